/**
 * overlayfs's own extended attributes (`trusted.overlay.*`, or `user.overlay.*` on a `userxattr`
 * mount) of many files at once. Node cannot read xattrs, so one short helper process reads them all:
 * Debian's /usr/bin/python3 (what the node's setup installs; `-I -S`: no site packages, no user
 * environment), else python3 on PATH, else `getfattr` (package attr). Paths go in by index and
 * values come back in hex, so no file name is ever quoted or parsed.
 */
import { execa } from "execa";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { Aborted } from "./errors.js";

/** Overlay xattr name without its namespace prefix ("opaque", "origin", "metacopy", "redirect"…) → value. */
export type OverlayXattrs = Record<string, Buffer>;

const PREFIXES = ["trusted.overlay.", "user.overlay."];

const SCRIPT = `
import json, os, sys
paths = sys.stdin.buffer.read().split(b"\\0")
prefixes = (b"trusted.overlay.", b"user.overlay.")
out = sys.stdout
for i, p in enumerate(paths):
    if not p:
        continue
    try:
        names = [n for n in os.listxattr(p, follow_symlinks=False) if n.encode().startswith(prefixes)]
        values = {n: os.getxattr(p, n, follow_symlinks=False).hex() for n in names}
    except OSError as e:
        out.write(json.dumps({"i": i, "e": e.strerror or str(e)}) + "\\n")
        continue
    if values:
        out.write(json.dumps({"i": i, "x": values}) + "\\n")
`;

export type XattrTool = { kind: "python3" | "getfattr"; path: string };

/** The helper this host has, or undefined. */
export function findXattrTool(env: NodeJS.ProcessEnv = process.env): XattrTool | undefined {
  const dirs = (env.PATH ?? "").split(delimiter).filter(Boolean);
  const find = (name: string) => dirs.map((d) => join(d, name)).find(executable);
  const python = ["/usr/bin/python3"].find(executable) ?? find("python3");
  if (python) return { kind: "python3", path: python };
  const getfattr = find("getfattr");
  return getfattr ? { kind: "getfattr", path: getfattr } : undefined;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The overlay xattrs of each path that has any (paths without them are absent from the map). */
export async function readOverlayXattrs(paths: string[], opts: { signal?: AbortSignal; tool?: XattrTool } = {}): Promise<Map<string, OverlayXattrs>> {
  if (paths.length === 0) return new Map();
  const tool = opts.tool ?? findXattrTool();
  if (!tool) throw new Error("reading overlayfs xattrs needs python3 or getfattr (package attr), and this host has neither");
  return tool.kind === "python3" ? viaPython(tool.path, paths, opts.signal) : viaGetfattr(tool.path, paths, opts.signal);
}

async function viaPython(python: string, paths: string[], signal: AbortSignal | undefined): Promise<Map<string, OverlayXattrs>> {
  const r = await execa(python, ["-I", "-S", "-c", SCRIPT], {
    input: paths.join("\0"),
    reject: false,
    maxBuffer: 1 << 30,
    ...(signal ? { cancelSignal: signal } : {}),
  });
  if (r.isCanceled) throw new Aborted(signal?.reason);
  if (r.exitCode !== 0) throw new Error(`${python} (reading overlayfs xattrs) failed: ${String(r.stderr).trim().split("\n").pop() || `exit ${r.exitCode}`}`);
  const out = new Map<string, OverlayXattrs>();
  for (const line of String(r.stdout).split("\n")) {
    if (!line) continue;
    const rec = JSON.parse(line) as { i: number; x?: Record<string, string>; e?: string };
    const path = paths[rec.i]!;
    if (rec.e !== undefined) throw new Error(`${path}: reading its xattrs: ${rec.e}`);
    out.set(path, strip(Object.entries(rec.x ?? {}).map(([k, v]) => [k, Buffer.from(v, "hex")])));
  }
  return out;
}

/** getfattr takes paths as arguments: batches keep each command line far below ARG_MAX. */
const GETFATTR_BATCH = 512;

async function viaGetfattr(getfattr: string, paths: string[], signal: AbortSignal | undefined): Promise<Map<string, OverlayXattrs>> {
  const out = new Map<string, OverlayXattrs>();
  for (let i = 0; i < paths.length; i += GETFATTR_BATCH) {
    const batch = paths.slice(i, i + GETFATTR_BATCH);
    const r = await execa(getfattr, ["--absolute-names", "-h", "-d", "-e", "hex", "-m", "^(trusted|user)\\.overlay\\.", "--", ...batch], {
      reject: false,
      maxBuffer: 1 << 30,
      ...(signal ? { cancelSignal: signal } : {}),
    });
    if (r.isCanceled) throw new Aborted(signal?.reason);
    if (r.exitCode !== 0) throw new Error(`${getfattr} failed: ${String(r.stderr).trim().split("\n").pop() || `exit ${r.exitCode}`}`);
    for (const [path, attrs] of parseGetfattrDump(String(r.stdout))) out.set(path, strip(Object.entries(attrs)));
  }
  return out;
}

/**
 * `getfattr -d -e hex` output: blocks of `# file: NAME` then `name=0xHEX` lines. getfattr escapes a
 * backslash in NAME as `\\` and newline/CR as `\ooo` (attr's quote()); values may be empty.
 */
export function parseGetfattrDump(text: string): Map<string, Record<string, Buffer>> {
  const out = new Map<string, Record<string, Buffer>>();
  let current: Record<string, Buffer> | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = {};
      out.set(unquote(line.slice(8)), current);
    } else if (line && current) {
      const eq = line.indexOf("=");
      const name = eq < 0 ? line : line.slice(0, eq);
      const raw = eq < 0 ? "" : line.slice(eq + 1);
      current[name] = raw.startsWith("0x") ? Buffer.from(raw.slice(2), "hex") : Buffer.from(raw.replace(/^"|"$/g, ""), "latin1");
    }
  }
  return out;
}

function unquote(s: string): string {
  return s.replace(/\\(\\|[0-7]{3})/g, (_, e: string) => (e === "\\" ? "\\" : String.fromCharCode(parseInt(e, 8))));
}

/** Drops the namespace: user.overlay.opaque and trusted.overlay.opaque both become "opaque". */
function strip(entries: Array<[string, Buffer]>): OverlayXattrs {
  const out: OverlayXattrs = {};
  for (const [name, value] of entries) {
    const prefix = PREFIXES.find((p) => name.startsWith(p));
    if (prefix) out[name.slice(prefix.length)] = value;
  }
  return out;
}
