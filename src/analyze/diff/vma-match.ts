/**
 * Which VMA of A is which VMA of B. In one process over time a mapping stays where it was made, so
 * VMAs pair by start address and backing ("address"). Two replicas of a program (started separately)
 * map the same things at other addresses (ASLR): there VMAs pair by what they map ("mapping") — a
 * file and offset, or for anonymous memory, stacks and shared objects their kind — and among VMAs
 * that map the same thing, by rank in address order.
 */
import type { VmaJson } from "./diff-types.js";

export type VmaMatchMode = "address" | "mapping";

/** Each VMA's key (the list in address order): unique within the list. */
export function vmaKeys(vmas: readonly VmaJson[], mode: VmaMatchMode): string[] {
  if (mode === "address") return vmas.map((v) => `${v.start} ${v.file}`);
  const seen = new Map<string, number>();
  return vmas.map((v) => {
    const rank = seen.get(v.file) ?? 0;
    seen.set(v.file, rank + 1);
    return `${v.file || "(anonymous)"} #${rank}`;
  });
}

/** Where each mapped file (a path, as opposed to anonymous memory, stacks and shared objects) begins. */
function fileStarts(vmas: readonly VmaJson[]): Map<string, string> {
  const starts = new Map<string, string>();
  for (const v of vmas) {
    if (!v.file.startsWith("/")) continue;
    const path = v.file.replace(/( \+ 0x[0-9a-f]+)?( \(s\))?$/, "");
    if (!starts.has(path)) starts.set(path, v.start);
  }
  return starts;
}

/**
 * Whether B lays out the same files elsewhere than A: most files both map begin at other addresses.
 * Then B is another run of the program (a replica), not A later: within one run a mapping does not
 * move, and a library loaded again after an unload moves alone. (A program built without PIE keeps
 * its own address; its libraries still move.)
 */
export function laidOutElsewhere(a: readonly VmaJson[], b: readonly VmaJson[]): boolean {
  const inA = fileStarts(a);
  let moved = 0;
  let stayed = 0;
  for (const [path, start] of fileStarts(b)) {
    const before = inA.get(path);
    if (before === undefined) continue;
    if (before === start) stayed++;
    else moved++;
  }
  return moved > stayed;
}
