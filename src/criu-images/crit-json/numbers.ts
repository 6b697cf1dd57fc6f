/** Integer text and dev_t conventions of crit's pretty JSON and of Python's int(text, 0). */

export function hexString(v: bigint | number): string {
  return v < 0 ? "-0x" + (-v).toString(16) : "0x" + v.toString(16);
}

const KERNEL_MINOR_BITS = 20n;

/** `(criu).dev`: the kernel's internal dev_t (20-bit minor); `odev`: glibc's userspace dev_t. */
export function formatDev(value: bigint | number, odev: boolean): string {
  const v = BigInt(value);
  if (!odev) return `${v >> KERNEL_MINOR_BITS}:${v & ((1n << KERNEL_MINOR_BITS) - 1n)}`;
  const major = ((v >> 32n) & 0xfffff000n) | ((v >> 8n) & 0xfffn);
  const minor = ((v >> 12n) & 0xffffff00n) | (v & 0xffn);
  return `${major}:${minor}`;
}

export function parseDev(text: string, odev: boolean): bigint | undefined {
  const m = /^\s*(-?\d+)\s*:\s*(-?\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const major = BigInt(m[1]!);
  const minor = BigInt(m[2]!);
  if (!odev) return (major << KERNEL_MINOR_BITS) | minor;
  return (
    ((major & 0xfffff000n) << 32n) | ((major & 0xfffn) << 8n) | ((minor & 0xffffff00n) << 12n) | (minor & 0xffn)
  );
}

/** Python's int(text, 0): optional sign, 0x/0o/0b prefixes, underscores between digits, no leading zeros. */
export function parsePythonInt(text: string): bigint | undefined {
  const m = /^\s*([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|[1-9](?:_?\d)*|0(?:_?0)*)\s*$/.exec(text);
  if (!m) return undefined;
  const body = m[2]!.replace(/_/g, "");
  const value = /^0[oO]/.test(body) ? BigInt("0o" + body.slice(2)) : BigInt(body);
  return m[1] === "-" ? -value : value;
}
