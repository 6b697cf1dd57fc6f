/**
 * Every deliberate failure is an HttpError; toResponse is the one place that turns a failure into a
 * response. Bodies are plain text, as the kubelet writes them (go-restful's WriteError: the message,
 * no newline); a failure nobody meant becomes a generic 500, and the handler logs its cause.
 */
import { textResponse, type EndpointResponse } from "./http-types.js";
import { BackendError } from "./node-backend.js";

export class HttpError extends Error {
  override name = "HttpError";
  readonly headers: Record<string, string>;

  constructor(
    readonly status: number,
    message: string,
    options: { cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.headers = options.headers ?? {};
  }
}

const BACKEND_STATUS: Record<BackendError["kind"], number> = { "not-found": 404, invalid: 400, runtime: 500 };

export function toResponse(err: unknown): EndpointResponse {
  if (err instanceof HttpError) return textResponse(err.status, err.message, err.headers);
  if (err instanceof BackendError) return textResponse(BACKEND_STATUS[err.kind], err.message);
  return textResponse(500, "Internal Server Error");
}

/** True for failures that were not meant: the log keeps their stack. */
export function isUnexpected(err: unknown): boolean {
  return !(err instanceof HttpError) && !(err instanceof BackendError);
}
