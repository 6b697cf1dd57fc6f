/** `x fds`: each process's file descriptors, then its cwd and root. */
import type { ImageDir } from "../image-dir.js";
import type { WireMessage } from "../wire-reader.js";
import { FileNames } from "./file-names.js";
import { listProcesses, renderPerProcess, taskImage } from "./processes.js";
import { padLeft } from "./pyformat.js";

export interface FdView {
  fd: number | "cwd" | "root";
  type: string;
  id: number;
  cloexec: boolean;
  name: string;
}

export interface ProcessFds {
  pid: number;
  /** Set for zombie and dead tasks, which have no files. */
  defunct?: string;
  fds: FdView[];
}

export function processFds(dir: ImageDir, names = new FileNames(dir)): ProcessFds[] {
  return listProcesses(dir).map((p): ProcessFds => {
    const ids = taskImage(dir, p, `ids-${p.pid}.img`);
    if (!ids) return { pid: p.pid, defunct: p.stateName.toLowerCase(), fds: [] };
    const fds: FdView[] = dir.entries(`fdinfo-${ids.files_id}.img`).map((fd: WireMessage) => {
      const type = names.typeName(fd.type as number);
      return { fd: fd.fd as number, type, id: fd.id as number, cloexec: ((fd.flags as number) & 1) === 1, name: names.describe(type, fd.id as number) };
    });
    const fs = dir.one(`fs-${p.pid}.img`);
    if (fs) {
      for (const key of ["cwd", "root"] as const) {
        const id = fs[`${key}_id`] as number;
        fds.push({ fd: key, type: "REG", id, cloexec: false, name: names.describe("REG", id) });
      }
    }
    return { pid: p.pid, fds };
  });
}

export function renderFds(procs: readonly ProcessFds[]): string {
  return renderPerProcess(procs, "no open files", (p, lines) => {
    for (const fd of p.fds) lines.push(`\t${padLeft(fd.fd, 7)}: ${fd.name}`);
  });
}
