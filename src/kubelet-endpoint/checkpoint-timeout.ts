/**
 * The checkpoint route's `timeout` query parameter, read as the kubelet reads it: the last value
 * when repeated, Go's strconv.ParseInt(s, 10, 64) (optional sign, decimal digits, int64 range), and
 * an unparsable value is a 404, not a 400 (the kubelet's handler writes http.StatusNotFound).
 */
import { HttpError } from "./http-error.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The requested timeout in seconds, undefined when the parameter is absent. May be negative. */
export function parseTimeoutParameter(values: readonly string[]): bigint | undefined {
  if (values.length === 0) return undefined;
  const text = values[values.length - 1]!;
  const value = /^[+-]?[0-9]+$/.test(text) ? BigInt(text) : undefined;
  if (value === undefined || value < INT64_MIN || value > INT64_MAX) {
    throw new HttpError(404, "cannot parse value of timeout parameter");
  }
  return value;
}

/**
 * The deadline handed to the backend: the CRI client raises a smaller request (or none) to the
 * node's runtime request timeout. Capped at the largest exact number, which no deadline reaches.
 */
export function effectiveTimeoutSeconds(requested: bigint | undefined, runtimeRequestTimeoutSeconds: number): number {
  const wanted = requested ?? 0n;
  if (wanted <= BigInt(runtimeRequestTimeoutSeconds)) return runtimeRequestTimeoutSeconds;
  return wanted > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(wanted);
}
