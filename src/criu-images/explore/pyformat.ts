/** The few printf-style paddings crit's explorers use ("%7d", "%-36s", "%08x"). */
export const padLeft = (s: string | number, width: number) => String(s).padStart(width);
export const padRight = (s: string | number, width: number) => String(s).padEnd(width);
export const hex = (v: bigint | number, width = 0) => BigInt(v).toString(16).padStart(width, "0");
