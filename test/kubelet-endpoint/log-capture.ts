/** A pino logger whose lines the test reads back as objects. */
import { pino, type Logger } from "pino";

export interface CapturedLog {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
  /** The per-request lines only. */
  requests(): Array<Record<string, unknown>>;
}

export function captureLog(): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  // pino writes each line synchronously to a destination that is a plain object with write().
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines, requests: () => lines.filter((l) => l.msg === "request") };
}
