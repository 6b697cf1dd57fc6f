/** Linux capability sets as CRIU dumps them (32-bit words, low word first), for people to read. */

const NAMES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
];

export function capabilityMask(words: unknown): bigint {
  const list = (words as number[] | undefined) ?? [];
  return list.reduce((mask, w, i) => mask | (BigInt(w >>> 0) << BigInt(32 * i)), 0n);
}

export function capabilityHex(mask: bigint): string {
  return "0x" + mask.toString(16).padStart(16, "0");
}

function names(mask: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0n; mask >> bit; bit++) if ((mask >> bit) & 1n) out.push("CAP_" + (NAMES[Number(bit)] ?? String(bit)));
  return out;
}

/** "+CAP_X -CAP_Y": what B's set has that A's lacks, and the reverse. */
export function capabilityChange(a: bigint, b: bigint): string {
  return [...names(b & ~a).map((n) => "+" + n), ...names(a & ~b).map((n) => "-" + n)].join(" ");
}
