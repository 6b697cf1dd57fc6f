/** A finding's location in words, for the scan's table and the HTML report. */
import type { Finding, Location } from "./findings.js";

/** What a table row groups: one process, file or queue. */
export function locationSource(l: Location): string {
  switch (l.kind) {
    case "memory":
    case "environment":
    case "cmdline":
      return `pid ${l.pid} (${l.comm})`;
    case "shared-memory":
      return `shmem ${l.shmid} (${l.label})`;
    case "rootfs-file":
      return `rootfs ${l.path}`;
    case "ghost-file":
      return `ghost ${l.path}`;
    case "queue":
      return `${l.queue} inode ${l.inode}`;
  }
}

export function locationPlace(l: Location): string {
  switch (l.kind) {
    case "memory":
      return `${l.address}` + (l.vma ? ` in ${l.vma.start}-${l.vma.end} ${l.vma.perms}${l.vma.file ? " " + l.vma.file : ""}` : "");
    case "environment":
      return `environment${l.variable ? " " + l.variable : ""} at ${l.address}`;
    case "cmdline":
      return `command line at ${l.address}`;
    case "shared-memory":
      return `offset ${l.offset}`;
    case "rootfs-file":
    case "ghost-file":
    case "queue":
      return `offset ${l.offset}`;
  }
}

/** A finding as the report lists it: where it was first seen and how many other places have it. */
export function findingWhere(f: Finding): string {
  const first = f.locations[0]!;
  const more = f.locations.length - 1;
  return `${locationSource(first)} ${locationPlace(first)}${more ? ` (+${more} more)` : ""}`;
}
