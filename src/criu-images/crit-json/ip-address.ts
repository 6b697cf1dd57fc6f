/**
 * `(criu).ipadd`: CRIU stores an address as u32 words holding the network-order bytes, read in host
 * (little-endian) order. crit prints them like Python's ipaddress module (compressed IPv6, lowercase,
 * IPv4-mapped addresses in hex groups as Python 3.11 does).
 */
function wordBytes(words: readonly number[]): number[] {
  return words.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff]);
}

export function formatIpWords(words: readonly number[]): string | undefined {
  if (words.length === 1) return wordBytes(words).join(".");
  if (words.length < 4) return undefined;
  const b = wordBytes(words.slice(0, 4));
  const groups = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  // The longest run of two or more zero groups becomes "::" (the first such run on a tie).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}

function bytesToWords(bytes: readonly number[]): number[] {
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) {
    words.push((bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0);
  }
  return words;
}

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = parts.map((p) => (/^(0|[1-9]\d{0,2})$/.test(p) ? Number(p) : NaN));
  return bytes.every((n) => n <= 255) ? bytes : undefined;
}

function parseIpv6(text: string): number[] | undefined {
  let s = text;
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  const lastColon = s.lastIndexOf(":");
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    const v4 = parseIpv4(last);
    if (!v4) return undefined;
    s = s.slice(0, lastColon + 1) + ((v4[0]! << 8) | v4[1]!).toString(16) + ":" + ((v4[2]! << 8) | v4[3]!).toString(16);
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const group = (g: string) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  const left = halves[0] ? halves[0].split(":").map(group) : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(":").map(group) : [];
  if ([...left, ...right].some(Number.isNaN)) return undefined;
  const given = left.length + right.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return undefined;
  const groups = halves.length === 2 ? [...left, ...new Array<number>(8 - given).fill(0), ...right] : left;
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** The u32 words CRIU stores for an address text, or undefined when it is not an address. */
export function parseIpWords(text: string): number[] | undefined {
  const v4 = parseIpv4(text);
  if (v4) return bytesToWords(v4);
  const v6 = text.includes(":") ? parseIpv6(text) : undefined;
  return v6 ? bytesToWords(v6) : undefined;
}
