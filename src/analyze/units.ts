/** Numbers for people, in the same form as checkpointctl prints them (so the two can be compared). */

/** Go's fmt "%.1f": correctly rounded, an exact tie to the even digit (toFixed rounds ties up). */
export function goFixed1(x: number): string {
  const scaled = x * 10;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5) {
    const even = floor % 2 === 0 ? floor : floor + 1;
    return (even / 10).toFixed(1);
  }
  return x.toFixed(1);
}

/** checkpointctl's ByteToString: "N B" under 1 KiB, else one decimal and KiB, MiB, GiB… */
export function byteToString(b: number): string {
  const unit = 1024;
  if (b < unit) return `${b} B`;
  let div = unit;
  let exp = 0;
  for (let n = Math.floor(b / unit); n >= unit; n = Math.floor(n / unit)) {
    div *= unit;
    exp++;
  }
  return `${goFixed1(b / div)} ${"KMGTPE"[exp]}iB`;
}
