/** The processes of this machine as /proc shows them: for finding runc's and CRIU's own processes. */
import { readdirSync, readFileSync } from "node:fs";

export interface HostProcess {
  pid: number;
  ppid: number;
  argv: string[];
}

/** Every process readable now (one that ends while it is read is left out). */
export function hostProcesses(): HostProcess[] {
  const out: HostProcess[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      // The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.push({ pid: Number(d), ppid, argv });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}
