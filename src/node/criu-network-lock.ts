/**
 * CRIU's network lock, left behind. A dump locks the container's network namespace with iptables (a
 * chain CRIU, jumped to from INPUT and OUTPUT, that drops everything CRIU itself does not mark) and
 * unlocks it when the dump ends. Two ends skip the unlock: a lazy dump whose page transfer fails
 * after the dump proper succeeded (CRIU resumes the tasks, still behind the lock), and a CRIU that
 * was killed. A container that runs on must then have its network back.
 */
import { execa } from "execa";

const CHAIN = "CRIU";

/** Removes CRIU's lock from the network namespace at `netnsPath`; true when there was one. */
export async function removeCriuNetworkLock(netnsPath: string): Promise<boolean> {
  let found = false;
  for (const tool of ["iptables", "ip6tables"]) {
    const run = (...args: string[]) => execa("nsenter", [`--net=${netnsPath}`, "--", tool, "-w", ...args], { reject: false, timeout: 10_000 });
    if ((await run("-S", CHAIN)).exitCode !== 0) continue;
    found = true;
    // Each jump once per dump; deleted until none is left, in case two dumps locked it.
    for (const hook of ["INPUT", "OUTPUT"]) {
      for (let i = 0; i < 8 && (await run("-D", hook, "-j", CHAIN)).exitCode === 0; i++);
    }
    await run("-F", CHAIN);
    const removed = await run("-X", CHAIN);
    if (removed.exitCode !== 0) throw new Error(`removing CRIU's network lock (${tool} chain ${CHAIN}) in ${netnsPath}: ${removed.stderr.trim()}`);
  }
  return found;
}
