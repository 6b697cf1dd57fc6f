/**
 * What this host offers for checkpoint/restore: CRIU (version, `criu check`, kernel features), runc,
 * iptables for CRIU's network lock, and root. Each check returns data; the CLI renders it.
 */
import { execa } from "execa";
import { accessSync, constants, readFileSync } from "node:fs";
import { release } from "node:os";
import { parseVersion } from "./versions.js";

/** The pipe a lazy migration's page server asks for (CRIU's lazy pages need it whole). */
export const LAZY_PIPE_BYTES = 4 << 20;
export const PIPE_MAX_SIZE = "/proc/sys/fs/pipe-max-size";

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

/** `criu check --feature NAME`: whether this host has it, and CRIU's last word on it. */
export async function criuFeature(criu: string, feature: string): Promise<{ supported: boolean; detail: string }> {
  const r = await run(criu, ["check", "--feature", feature]);
  return { supported: r.ok && /is supported/.test(r.out), detail: lastLine(r.out) };
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
  const features = new Map<string, { supported: boolean; detail: string }>();
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
      const f = await criuFeature(criu, feature);
      features.set(feature, f);
      checks.push({
        name: `feature ${feature}`,
        status: f.supported ? "ok" : "warn",
        detail: f.supported ? `supported (${purpose})` : `not available: ${purpose} will not work (${f.detail})`,
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
  const pipeMax = readNumber(PIPE_MAX_SIZE);
  const pipeOk = pipeMax !== undefined && pipeMax >= LAZY_PIPE_BYTES;
  checks.push({
    name: "pipe-max-size",
    status: "ok",
    detail: pipeOk
      ? `${pipeMax} bytes (a lazy migration's page server needs 4 MiB)`
      : `${pipeMax ?? "unknown"} bytes: a lazy migration's page server needs 4 MiB; the node agent (root) raises it while it serves pages and puts it back after`,
  });
  checks.push(migrationMode("lazy migration", features.get("uffd-noncoop"), "ckpt migrate --mode lazy: the pages follow the restored pod (userfaultfd, CRIU lazy-pages)", isRoot || pipeOk));
  const preCopy = migrationMode("pre-copy migration", features.get("mem_dirty_track"), "", true);
  checks.push(preCopy.status === "ok" ? { ...preCopy, status: "warn", detail: "CRIU could track dirty memory here, but ckpt does not do pre-copy: use --mode lazy" } : preCopy);
  return checks;
}

/** Whether a migration mode works here, from the CRIU feature it rests on. */
function migrationMode(name: string, feature: { supported: boolean; detail: string } | undefined, works: string, pipesOk: boolean): HostCheck {
  if (!feature) return { name, status: "warn", detail: "unknown: CRIU does not run" };
  if (!feature.supported) {
    return { name, status: "warn", detail: `unavailable: CRIU cannot do it on this kernel (${feature.detail}); ckpt migrate --mode ${name.split(" ")[0]} is refused` };
  }
  if (!pipesOk) return { name, status: "warn", detail: "fs.pipe-max-size is under 4 MiB and only root can raise it", fix: "run the node agent as root" };
  return { name, status: "ok", detail: works };
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
