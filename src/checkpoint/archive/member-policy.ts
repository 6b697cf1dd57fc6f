/**
 * Which archive members analysis accepts. Archives come from other nodes and may be hostile: names
 * that climb out (`..`), absolute names, links, device files and duplicates are refused and reported,
 * never followed or written anywhere.
 */
export interface Refusal {
  name: string;
  reason: string;
}

/** The member name as used inside ckpt ("./checkpoint/x" → "checkpoint/x"), or a reason to refuse it. */
export function checkMemberName(raw: string): { name: string } | { reason: string } {
  if (raw.startsWith("/")) return { reason: "absolute path" };
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return { reason: "path climbs out of the archive (..)" };
  if (raw.includes("\0")) return { reason: "NUL in name" };
  return { name: parts.join("/") };
}

export function checkMemberType(type: string, linkname: string): string | undefined {
  if (type === "file" || type === "directory") return undefined;
  if (type === "symlink") return `symbolic link to ${linkname} (links are not followed)`;
  if (type === "hardlink") return `hard link to ${linkname} (links are not followed)`;
  const kinds: Record<string, string> = { "3": "character device", "4": "block device", "6": "FIFO" };
  return `${kinds[type] ?? `member of tar type '${type}'`} (only files and directories are read)`;
}
