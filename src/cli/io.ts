/** Reading inputs and writing outputs the way crit does (stdin/stdout when no file is named). */
import { readFileSync, writeFileSync, writeSync } from "node:fs";

export function readInput(path: string | undefined): Uint8Array {
  return readFileSync(path ?? 0);
}

export function inputName(path: string | undefined): string {
  return path ?? "<stdin>";
}

export function writeOutput(path: string | undefined, data: string | Uint8Array): void {
  if (path) writeFileSync(path, data);
  else writeStdout(data);
}

/** Synchronous, so that a large output is complete before the process exits. */
export function writeStdout(data: string | Uint8Array): void {
  let buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (err) {
      // stdout may be a non-blocking pipe.
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
    }
  }
}
