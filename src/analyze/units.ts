/** Numbers for people, in the same form as checkpointctl prints them (so the two can be compared). */

/**
 * Go's fmt "%.1f": the nearest tenth of the exact binary value, an exact tie to the even digit.
 * toFixed agrees except on exact ties, and a double is an exact tie only when 4x is an odd integer
 * (x = 0.25, 1.75…; 0.05 is not one: its double is slightly above 0.05).
 */
export function goFixed1(x: number): string {
  const quarters = x * 4;
  if (Number.isInteger(quarters) && Math.abs(quarters) % 2 === 1) {
    const below = Math.floor(x * 10);
    const even = below % 2 === 0 ? below : below + 1;
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

/** n/div with one decimal as Go's "%.1f" prints it, for integers n and div (exact, no float test). */
export function tenths(n: number, div: number): string {
  const q = Math.floor((n * 10) / div);
  const r = n * 10 - q * div;
  const rounded = 2 * r > div || (2 * r === div && q % 2 === 1) ? q + 1 : q;
  return `${Math.floor(rounded / 10)}.${rounded % 10}`;
}
