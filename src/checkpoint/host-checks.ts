/**
 * What this host offers for checkpoint/restore: CRIU (version, `criu check`, kernel features), runc,
 * iptables for CRIU's network lock, and root. Each check returns data; the CLI renders it.
 */
import { execa } from "execa";
import { accessSync, constants, readFileSync } from "node:fs";
import { release } from "node:os";
import { parseVersion } from "./versions.js";

export type CheckStatus = "ok" | "warn" | "fail";

export interface HostCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** How to get what is missing. */
  fix?: string;
}

const SETUP_HINT = "run `npm run setup` (scripts/setup.sh) as root";

/** The CRIU binary ckpt uses: $CKPT_CRIU, else the 4.2.1 wrapper the setup installs, else PATH. */
export function criuPath(): string {
  if (process.env.CKPT_CRIU) return process.env.CKPT_CRIU;
  for (const p of ["/usr/local/sbin/criu", "/opt/ckpt-tools/bin/criu"]) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // try the next place
    }
  }
  return "criu";
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await execa(cmd, args, { reject: false, all: true, timeout: 30_000 });
    return { ok: r.exitCode === 0, out: (r.all ?? "").trim() };
  } catch (err) {
    return { ok: false, out: (err as Error).message };
  }
}

/** Features of `criu check --feature` that decide what ckpt can do on this host. */
const CRIU_FEATURES: ReadonlyArray<readonly [feature: string, purpose: string]> = [
  ["uffd-noncoop", "lazy (post-copy) migration"],
  ["mem_dirty_track", "pre-copy (incremental) dumps"],
  ["timens", "time namespaces"],
  ["network_lock_nftables", "nftables network lock"],
];

export async function checkHost(): Promise<HostCheck[]> {
  const checks: HostCheck[] = [];
  const isRoot = process.geteuid?.() === 0;
  checks.push(
    isRoot
      ? { name: "root", status: "ok", detail: "running as root" }
      : { name: "root", status: "fail", detail: "not root: CRIU dumps and restores need root", fix: "run ckpt as root" },
  );
  checks.push({ name: "kernel", status: "ok", detail: `Linux ${release()}` });

  const criu = criuPath();
  const version = await run(criu, ["--version"]);
  const v = version.ok ? parseVersion(version.out) : undefined;
  if (!v) {
    checks.push({ name: "criu", status: "fail", detail: `${criu}: not found or does not run`, fix: SETUP_HINT });
  } else {
    const text = v.join(".");
    const recent = v[0] > 4 || (v[0] === 4 && v[1] >= 2);
    checks.push(
      recent
        ? { name: "criu", status: "ok", detail: `CRIU ${text} (${criu})` }
        : {
            name: "criu",
            status: "fail",
            detail: `CRIU ${text} (${criu}) is too old for this kernel (dumps of TCP sockets need 4.2 on Linux >= 6.16)`,
            fix: SETUP_HINT,
          },
    );
    const check = await run(criu, ["check"]);
    const looksGood = /Looks good/.test(check.out);
    checks.push(
      looksGood
        ? { name: "criu check", status: "ok", detail: "Looks good." }
        : { name: "criu check", status: "fail", detail: lastLine(check.out) || "criu check failed", fix: "see `criu check` output; a newer CRIU may be needed (" + SETUP_HINT + ")" },
    );
    for (const [feature, purpose] of CRIU_FEATURES) {
      const r = await run(criu, ["check", "--feature", feature]);
      const supported = r.ok && /is supported/.test(r.out);
      checks.push({
        name: `feature ${feature}`,
        status: supported ? "ok" : "warn",
        detail: supported ? `supported (${purpose})` : `not available: ${purpose} will not work (${lastLine(r.out)})`,
      });
    }
  }

  const runc = await run("runc", ["--version"]);
  checks.push(
    runc.ok
      ? { name: "runc", status: "ok", detail: runc.out.split("\n")[0]! }
      : { name: "runc", status: "fail", detail: "runc not found", fix: "apt-get install runc (or " + SETUP_HINT + ")" },
  );
  const iptables = await run("iptables-restore", ["--version"]);
  checks.push(
    iptables.ok
      ? { name: "iptables", status: "ok", detail: iptables.out.split("\n")[0]! }
      : {
          name: "iptables",
          status: "fail",
          detail: "iptables-restore not found: CRIU cannot lock a container's network, so every container dump fails",
          fix: "apt-get install iptables",
        },
  );
  const pipeMax = readNumber("/proc/sys/fs/pipe-max-size");
  checks.push(
    pipeMax !== undefined && pipeMax >= 4 << 20
      ? { name: "pipe-max-size", status: "ok", detail: `${pipeMax} bytes` }
      : {
          name: "pipe-max-size",
          status: "warn",
          detail: `${pipeMax ?? "unknown"} bytes: lazy-pages migration needs at least 4 MiB`,
          fix: "sysctl -w fs.pipe-max-size=4194304 (only while migrating lazily)",
        },
  );
  return checks;
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}

function readNumber(path: string): number | undefined {
  try {
    return Number(readFileSync(path, "utf8").trim());
  } catch {
    return undefined;
  }
}
