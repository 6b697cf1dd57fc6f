/** Dotted versions ("4.2.1", "6.18.44-fc-v669") as CRIU, runc and kernels print them. */

export type Version = [major: number, minor: number, patch: number];

/** The first "X.Y[.Z]" in `text`; undefined when there is none. */
export function parseVersion(text: string | undefined): Version | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? "");
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** Negative, zero or positive as `a` is older than, the same as or newer than `b`. */
export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}
