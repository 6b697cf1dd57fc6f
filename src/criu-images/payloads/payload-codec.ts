/**
 * The bytes CRIU writes after some entries (pipe data, socket queues, SysV IPC contents…). Each codec
 * knows from the entry just parsed how many bytes follow, how crit shows them, and how to write them
 * back. The size shown by `show --nopl` is the codec's own notion of the payload size, as in crit.
 */
import { WireError } from "../errors.js";
import type { JsonNode, JsonValue } from "../json-text.js";
import type { ByteWriter } from "../wire-writer.js";
import type { WireMessage } from "../wire-reader.js";

export interface PayloadRead {
  next: number;
  size: number;
  json?: JsonValue;
}

export interface PayloadCodec {
  /** Reads the payload after `entry` at `pos`; builds JSON only when `withJson`. */
  read(entry: WireMessage, buf: Uint8Array, pos: number, end: number, withJson: boolean): PayloadRead;
  /** Writes the payload for `extra` (crit's JSON), or nothing when crit would write nothing. */
  write(entry: WireMessage, extra: JsonNode, w: ByteWriter, path: string): void;
}

export function need(pos: number, count: number, end: number, what: string): void {
  if (count > end - pos) throw new WireError(pos, `${what} of ${count} bytes runs past the end of the file (${end - pos} bytes left)`);
}

export function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export function num(v: unknown): number {
  return typeof v === "bigint" ? Number(v) : typeof v === "number" ? v : 0;
}

/** crit's truthiness test on `extra` before writing it: "" and [] write nothing. */
export function isEmptyExtra(extra: JsonNode): boolean {
  return (
    (extra.kind === "string" && extra.value === "") ||
    (extra.kind === "array" && extra.items.length === 0) ||
    (extra.kind === "object" && extra.entries.size === 0) ||
    extra.kind === "null" ||
    (extra.kind === "bool" && !extra.value) ||
    (extra.kind === "number" && Number(extra.text) === 0)
  );
}
