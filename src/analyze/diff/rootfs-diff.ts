/**
 * How the container's file changes (rootfs-diff.tar with deleted.files, or containerd's layer with
 * `.wh.` whiteouts) differ between two checkpoints. Each tar is streamed once and each file hashed as
 * it goes by; small text files of A are kept (at most MAX_KEPT_TEXT bytes in all) so that a changed
 * one gets a unified diff when B's version streams by. Nothing else is held.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { Checkpoint } from "../../checkpoint/checkpoint.js";
import { walkTar, type TarListEntry } from "../../checkpoint/archive/tar-listing.js";
import { DELETED_FILES, ROOTFS_DIFF } from "../../checkpoint/layout-names.js";
import { DeletedFiles, parseMetadata } from "../../checkpoint/metadata.js";
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from "../../node/images/layer-paths.js";
import type { FieldChange, RootfsChange, RootfsDiff, RootfsEntryJson } from "./diff-types.js";
import { unifiedDiff } from "./unified-diff.js";

/** Files up to this size on both sides get a unified diff when they are UTF-8 text. */
export const MAX_TEXT_BYTES = 64 * 1024;
const MAX_KEPT_TEXT = 16 << 20;

interface FileState {
  entry: RootfsEntryJson;
  digest?: string;
  text?: string;
}

interface RootfsState {
  files: Map<string, FileState>;
  deleted: Set<string>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as text when they are UTF-8 without NUL (what a text file is here). */
function asText(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function entryJson(e: TarListEntry, path: string): RootfsEntryJson {
  const out: RootfsEntryJson = { path, type: e.type, size: e.size };
  if (e.link) out.link = e.link;
  return out;
}

/**
 * One checkpoint's file changes. `onFile` sees each file once its bytes have gone by (with its text
 * when small); `keepText` says whether to keep that text afterwards.
 */
async function readRootfs(cp: Checkpoint, keepText: boolean, onFile: (f: FileState) => void): Promise<RootfsState> {
  const state: RootfsState = { files: new Map(), deleted: new Set() };
  if (cp.archive.has(DELETED_FILES)) {
    for (const p of parseMetadata(DeletedFiles, cp.archive.read(DELETED_FILES), `${cp.path}: ${DELETED_FILES}`)) state.deleted.add(posix.join("/", p));
  }
  if (!cp.archive.has(ROOTFS_DIFF)) return state;
  let kept = 0;
  await walkTar(cp.archive, ROOTFS_DIFF, (e) => {
    const path = posix.join("/", e.path);
    const base = posix.basename(path);
    if (base === OPAQUE_WHITEOUT) return undefined;
    if (base.startsWith(WHITEOUT_PREFIX)) {
      state.deleted.add(posix.join(posix.dirname(path), base.slice(WHITEOUT_PREFIX.length)));
      return undefined;
    }
    const file: FileState = { entry: entryJson(e, path) };
    state.files.set(path, file);
    if (e.type !== "file") {
      onFile(file);
      return undefined;
    }
    const digest = createHash("sha256");
    const small: Buffer[] | undefined = e.size <= MAX_TEXT_BYTES ? [] : undefined;
    return {
      data: (chunk) => {
        digest.update(chunk);
        small?.push(Buffer.from(chunk));
      },
      end: () => {
        file.digest = digest.digest("hex");
        if (small) file.text = asText(Buffer.concat(small));
        onFile(file);
        if (!keepText || file.text === undefined || kept + file.text.length > MAX_KEPT_TEXT) delete file.text;
        else kept += file.text.length;
      },
    };
  });
  return state;
}

function compareFiles(a: FileState, b: FileState, notes: string[]): RootfsChange | undefined {
  const facts = (f: FileState) => ({ type: f.entry.type, size: f.entry.size, link: f.entry.link, content: f.digest ? `sha256:${f.digest.slice(0, 16)}` : undefined });
  const fa = facts(a);
  const fb = facts(b);
  const changes: FieldChange[] = [];
  for (const field of ["type", "size", "link", "content"] as const) {
    const x = String(fa[field] ?? "");
    const y = String(fb[field] ?? "");
    if (x !== y) changes.push({ field, a: x, b: y });
  }
  if (!changes.length) return undefined;
  const change: RootfsChange = { path: b.entry.path, changes };
  if (a.text !== undefined && b.text !== undefined) {
    const hunks = unifiedDiff(a.text, b.text);
    if (hunks) change.unified_diff = [`--- a${b.entry.path}`, `+++ b${b.entry.path}`, ...hunks].join("\n") + "\n";
    else notes.push(`${b.entry.path}: no unified diff (too many changed lines)`);
  }
  return change;
}

export async function diffRootfs(a: Checkpoint, b: Checkpoint): Promise<{ rootfs: RootfsDiff; notes: string[] }> {
  const notes: string[] = [];
  const before = await readRootfs(a, true, () => undefined);
  const changed: RootfsChange[] = [];
  const after = await readRootfs(b, false, (fb) => {
    const fa = before.files.get(fb.entry.path);
    const change = fa && compareFiles(fa, fb, notes);
    if (change) changed.push(change);
  });
  const rootfs: RootfsDiff = {
    added: [...after.files.values()].filter((f) => !before.files.has(f.entry.path)).map((f) => f.entry),
    changed: changed.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0)),
    deleted: [...after.deleted].filter((p) => !before.deleted.has(p)).sort(),
    reverted: [...new Set([...before.files.keys(), ...before.deleted])].filter((p) => !after.files.has(p) && !after.deleted.has(p)).sort(),
  };
  rootfs.added.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return { rootfs, notes };
}
