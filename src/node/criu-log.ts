/** What CRIU's own log says about a failure: runtimes report only that CRIU failed. */

/** The first error line of a CRIU log, without its timestamp; undefined when there is none. */
export function criuLogError(log: string): string | undefined {
  // CRIU logs "Can't setup RLIMIT_NOFILE for self" on every run here; it is harmless (not the cause).
  const line = log.split("\n").find((l) => /\bError \(/.test(l) && !l.includes("RLIMIT_NOFILE"));
  return line?.replace(/^\(\s*[\d.]+\)\s*/, "").trim();
}
