/**
 * The CRI logging format the runtime writes ("<RFC3339Nano> <stream> <F|P> <text>" per line; P marks
 * a long line split in parts) and how the kubelet serves it on /containerLogs: whole lines, the
 * timestamp kept only when asked for, filtered by time and count.
 */

export interface LogMessage {
  /** As written: RFC3339 with up to nanoseconds. */
  timestamp: string;
  /** Nanoseconds since the epoch, for comparing. */
  nanos: bigint;
  stream: "stdout" | "stderr";
  text: string;
}

const LINE = /^(\S+) (stdout|stderr) ([FP])(?: (.*))?$/;

/** RFC3339 → nanoseconds since the epoch (Date keeps only milliseconds). */
export function rfc3339Nanos(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** Whole messages, the parts of split lines joined; lines not in the format are skipped. */
export function parseCriLog(text: string): LogMessage[] {
  const out: LogMessage[] = [];
  const pending: Partial<Record<"stdout" | "stderr", LogMessage>> = {};
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const nanos = rfc3339Nanos(m[1]!);
    if (nanos === undefined) continue;
    const stream = m[2] as "stdout" | "stderr";
    const part = m[4] ?? "";
    const open = pending[stream];
    const msg = open ? { ...open, text: open.text + part } : { timestamp: m[1]!, nanos, stream, text: part };
    if (m[3] === "P") pending[stream] = msg;
    else {
      delete pending[stream];
      out.push(msg);
    }
  }
  return out;
}

export interface LogQuery {
  timestamps: boolean;
  /** Only messages at or after this time (ns). */
  since?: bigint;
  tailLines?: number;
  limitBytes?: number;
}

/** The body the kubelet sends for a log request. */
export function renderLog(messages: LogMessage[], q: LogQuery): string {
  let selected = q.since === undefined ? messages : messages.filter((m) => m.nanos >= q.since!);
  if (q.tailLines !== undefined) selected = q.tailLines === 0 ? [] : selected.slice(-q.tailLines);
  let body = selected.map((m) => `${q.timestamps ? `${m.timestamp} ` : ""}${m.text}\n`).join("");
  if (q.limitBytes !== undefined) {
    const bytes = Buffer.from(body, "utf8");
    if (bytes.length > q.limitBytes) body = bytes.subarray(0, q.limitBytes).toString("utf8");
  }
  return body;
}
