/** What CRIU's own log says about a failure: runtimes report only that CRIU failed. */
import { readFileSync } from "node:fs";

/** The first error line of a CRIU log, without its timestamp; undefined when there is none. */
export function criuLogError(log: string): string | undefined {
  // CRIU logs "Can't setup RLIMIT_NOFILE for self" on every run here; it is harmless (not the cause).
  const line = log.split("\n").find((l) => /\bError \(/.test(l) && !l.includes("RLIMIT_NOFILE"));
  return line?.replace(/^\(\s*[\d.]+\)\s*/, "").trim();
}

/** containerd names CRIU's log on a failed dump (`path= …/criu-dump.log`): what CRIU said there goes into the message. */
export function withCriuLogReason(message: string): string {
  const log = /path= ?(\/\S+\.log)/.exec(message)?.[1];
  if (!log) return message;
  let why: string | undefined;
  try {
    why = criuLogError(readFileSync(log, "utf8"));
  } catch {
    return message;
  }
  return why ? `${message}; CRIU: ${why}` : message;
}
