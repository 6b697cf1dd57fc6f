/**
 * The packet filter of a pod's network namespace, where pod checkpoints and restores need it.
 *
 * Restore: two containers holding a TCP connection over 127.0.0.1 come back one after the other:
 * the first restored end sends a window probe when CRIU takes its socket out of repair mode, and the
 * kernel answers it with a RST while the peer's socket does not exist yet, which kills the
 * connection. A DROP rule on `lo` in that namespace holds such packets back until every container
 * is restored; TCP retransmits whatever it dropped once the rule is gone.
 *
 * Checkpoint: CRIU locks the whole namespace while it dumps (a `CRIU` chain that drops every packet
 * but its own, jumped to from INPUT and OUTPUT) and unlocks it when done. A CRIU killed in between
 * (a deadline) leaves the lock, and the pod's network stays cut off; several CRIUs dumping the
 * containers of one pod at once lock and unlock the same chain, and an unlock can fail while another
 * dump holds it (CRIU logs it and goes on).
 */
import { execa } from "execa";
import { z } from "zod";

export class NetfilterError extends Error {
  override name = "NetfilterError";
}

/** Names our rule, so that removing it never takes another one out. */
const RULE_COMMENT = "ckpt pod restore: hold loopback until every container is restored";
const RULE = ["OUTPUT", "-o", "lo", "-m", "comment", "--comment", RULE_COMMENT, "-j", "DROP"];
const TABLES = ["iptables", "ip6tables"] as const;
/** The chain CRIU's iptables network lock adds (criu/net.c). */
const CRIU_CHAIN = "CRIU";

const LinkSchema = z.array(z.object({ ifname: z.string(), flags: z.array(z.string()) }));

async function inNetns(netns: string, argv: string[]) {
  return execa("ip", ["netns", "exec", netns, ...argv], { reject: false, timeout: 30_000, stdin: "ignore" });
}

/** Is `lo` up in the namespace? */
export async function loopbackUp(netns: string): Promise<boolean> {
  const r = await execa("ip", ["-n", netns, "-j", "link", "show", "lo"], { reject: false, timeout: 30_000 });
  if (r.exitCode !== 0) throw new NetfilterError(`network namespace ${netns}: ip link show lo: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  const links = LinkSchema.safeParse(JSON.parse(r.stdout));
  return links.success && (links.data[0]?.flags.includes("UP") ?? false);
}

/**
 * Makes sure `lo` is up in the namespace: CRIU cannot connect a restored socket back to 127.0.0.1
 * otherwise ("Network is unreachable"). Our sandboxes get it from the CNI loopback plugin; a
 * namespace made without it gets it here.
 */
export async function ensureLoopbackUp(netns: string): Promise<void> {
  if (await loopbackUp(netns)) return;
  const up = await execa("ip", ["-n", netns, "link", "set", "lo", "up"], { reject: false, timeout: 30_000 });
  if (up.exitCode !== 0) throw new NetfilterError(`network namespace ${netns}: ip link set lo up: ${up.stderr.trim() || `exit ${up.exitCode}`}`);
}

/** Puts the DROP rule on `lo` (IPv4 and IPv6, side by side) first in the namespace's OUTPUT chain. */
export async function holdLoopback(netns: string): Promise<void> {
  const results = await Promise.all(TABLES.map(async (table) => ({ table, r: await inNetns(netns, [table, "-w", "-I", ...RULE]) })));
  const failed = results.find((x) => x.r.exitCode !== 0);
  if (failed) {
    await releaseLoopback(netns).catch(() => undefined);
    throw new NetfilterError(`network namespace ${netns}: ${failed.table} -I ${RULE.join(" ")}: ${failed.r.stderr.trim() || `exit ${failed.r.exitCode}`}`);
  }
}

/** Removes the DROP rule (every copy of it, IPv4 and IPv6 side by side); a namespace without it is left as it is. */
export async function releaseLoopback(netns: string): Promise<void> {
  await Promise.all(
    TABLES.map(async (table) => {
      for (let i = 0; i < 8; i++) {
        if ((await inNetns(netns, [table, "-w", "-D", ...RULE])).exitCode === 0) continue;
        // iptables says "Bad rule" both when the rule is gone and when deleting it failed.
        const present = await inNetns(netns, [table, "-w", "-C", ...RULE]);
        if (present.exitCode !== 0) return;
        throw new NetfilterError(`network namespace ${netns}: ${table} -D ${RULE.join(" ")}: the rule stays`);
      }
    }),
  );
}

/**
 * Removes CRIU's network lock from the namespace (IPv4 and IPv6): every jump to the `CRIU` chain,
 * then the chain. Only while no CRIU works on the namespace. Returns whether there was one.
 */
export async function removeCriuNetworkLock(netns: string): Promise<boolean> {
  const found = await Promise.all(
    TABLES.map(async (table) => {
      if ((await inNetns(netns, [table, "-w", "-S", CRIU_CHAIN])).exitCode !== 0) return false;
      for (const chain of ["INPUT", "OUTPUT"]) {
        // Each CRIU that locked adds a jump of its own.
        for (let i = 0; i < 64 && (await inNetns(netns, [table, "-w", "-D", chain, "-j", CRIU_CHAIN])).exitCode === 0; i++);
      }
      for (const step of [["-F", CRIU_CHAIN], ["-X", CRIU_CHAIN]]) {
        const r = await inNetns(netns, [table, "-w", ...step]);
        if (r.exitCode !== 0) throw new NetfilterError(`network namespace ${netns}: ${table} ${step.join(" ")}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
      }
      return true;
    }),
  );
  return found.some(Boolean);
}

/** Does the namespace hold the DROP rule? */
export async function loopbackHeld(netns: string): Promise<boolean> {
  const r = await inNetns(netns, ["iptables", "-w", "-C", ...RULE]);
  return r.exitCode === 0;
}
