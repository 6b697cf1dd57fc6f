/** Reading the end of a container's log file, for the kubelet's log route. */
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import { BackendError, type LogRequest } from "../kubelet-endpoint/node-backend.js";

/**
 * The log route's text: the last `maxBytes` of the container's log (the kubelet's NAME/ATTEMPT.log),
 * or with `previous` of its run before; empty when the run wrote none.
 */
export function containerLogTail(req: LogRequest, logPath: string, attempt: number, maxBytes: number): string {
  let path = logPath;
  if (req.previous) {
    if (attempt === 0) throw new BackendError("invalid", `previous terminated container "${req.container}" in pod "${req.pod}" not found`);
    path = join(dirname(logPath), `${attempt - 1}.log`);
  }
  if (!path || !existsSync(path)) return "";
  return readTail(path, maxBytes);
}

/** The last `max` bytes of a file, from the start of a line. */
function readTail(path: string, max: number): string {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - max);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    let text = buf.subarray(0, got).toString("utf8");
    if (start > 0) text = text.slice(text.indexOf("\n") + 1);
    return text;
  } finally {
    closeSync(fd);
  }
}
