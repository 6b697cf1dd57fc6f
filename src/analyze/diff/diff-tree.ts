/**
 * `ckpt diff` as a tree, in `ckpt inspect`'s layout ("[meta]  value" nodes): [+ …] only in B,
 * [- …] only in A, [~ …] in both but different.
 */
import { add, node, type TreeNode } from "../inspect-tree.js";
import { byteToString } from "../units.js";
import { isEmptyDiff, type CheckpointDiff, type FieldChange, type OpenFileJson, type PagesChange, type ProcessChange, type ProcessSummary, type VmaJson } from "./diff-types.js";

function changeText(c: FieldChange): string {
  return `${c.field}: ${c.a || '""'} → ${c.b || '""'}${c.detail ? ` (${c.detail})` : ""}`;
}

function processText(p: ProcessSummary): string {
  return p.cmdline ? `${p.command} (${p.cmdline})` : `${p.command} (${p.task_state.toLowerCase()})`;
}

function fileText(f: OpenFileJson): string {
  const extra = [f.flags, f.pos !== undefined ? `pos ${f.pos}` : undefined, f.socket?.state].filter((x) => x);
  return f.path + (extra.length ? ` (${extra.join(", ")})` : "");
}

function vmaText(v: VmaJson): string {
  return `${v.start}-${v.end} ${v.prot} ${v.file || "(anonymous)"} (${byteToString(v.size)})`;
}

function pagesText(p: PagesChange): string {
  const counts = [
    p.changed_pages ? `${p.changed_pages} changed` : "",
    p.added_pages ? `${p.added_pages} added` : "",
    p.removed_pages ? `${p.removed_pages} removed` : "",
  ].filter((x) => x);
  const first = p.first_changed.length ? ` at ${p.first_changed.join(", ")}${p.changed_pages + p.added_pages + p.removed_pages > p.first_changed.length ? ", …" : ""}` : "";
  return `${counts.join(", ")} page(s)${first}`;
}

function addProcessChange(parent: TreeNode, p: ProcessChange): void {
  const title = p.pid_a !== undefined ? `${p.command} (pid ${p.pid_a} in A, matched by ${p.matched_by})` : p.command;
  const n = add(parent, title, `~ ${p.pid}`);
  if (p.vma_match === "mapping") add(n, "laid out at other addresses (replicas): VMAs paired by what they map, pages compared at the same offset in each");
  for (const c of p.changes) add(n, changeText(c));
  if (p.threads.added.length || p.threads.removed.length) {
    const t = add(n, "Threads");
    for (const x of p.threads.added) add(t, x.name, `+ ${x.tid}`);
    for (const x of p.threads.removed) add(t, x.name, `- ${x.tid}`);
  }
  const env = p.environment;
  if (Object.keys(env.added).length + Object.keys(env.removed).length + Object.keys(env.changed).length) {
    const e = add(n, "Environment");
    for (const [k, v] of Object.entries(env.added)) add(e, `${k}=${v}`, "+");
    for (const [k, v] of Object.entries(env.removed)) add(e, `${k}=${v}`, "-");
    for (const [k, v] of Object.entries(env.changed)) add(e, `${k}=${v.a} → ${v.b}`, "~");
  }
  const f = p.files;
  if (f.added.length || f.removed.length || f.changed.length) {
    const files = add(n, "Open files");
    for (const x of f.added) add(files, fileText(x), `+ ${x.fd}`);
    for (const x of f.removed) add(files, fileText(x), `- ${x.fd}`);
    for (const x of f.changed) add(files, x.changes.map(changeText).join("; "), `~ ${x.fd}`);
  }
  const v = p.vmas;
  if (v.added.length || v.removed.length || v.changed.length) {
    const vmas = add(n, "VMAs");
    for (const x of v.added) add(vmas, vmaText(x), "+");
    for (const x of v.removed) add(vmas, vmaText(x), "-");
    for (const x of v.changed) add(vmas, `${vmaText(x.b)}: ${x.changes.map(changeText).join("; ")}`, "~");
  }
  if (p.memory.length) {
    const mem = add(n, "Memory pages");
    for (const m of p.memory) add(mem, pagesText(m), vmaText(m.area));
  }
}

export function diffTree(d: CheckpointDiff): TreeNode {
  const root = node(isEmptyDiff(d) ? "No differences" : "Differences");
  add(root, `A: ${d.a}`);
  add(root, `B: ${d.b}`);
  const p = d.processes;
  if (p.added.length || p.removed.length || p.changed.length) {
    const procs = add(root, "Processes");
    for (const x of p.added) add(procs, processText(x), `+ ${x.pid}`);
    for (const x of p.removed) add(procs, processText(x), `- ${x.pid}`);
    for (const x of p.changed) addProcessChange(procs, x);
  }
  const s = d.shared_memory;
  if (s.added.length || s.removed.length || s.changed.length) {
    const shm = add(root, "Shared memory");
    for (const x of s.added) add(shm, `${x.label} (${x.pages} page(s) dumped)`, `+ ${x.shmid}`);
    for (const x of s.removed) add(shm, `${x.label} (${x.pages} page(s) dumped)`, `- ${x.shmid}`);
    for (const x of s.changed) add(shm, `${x.label}: ${pagesText(x)}`, `~ ${x.shmid}`);
  }
  const r = d.rootfs;
  if (r.added.length || r.changed.length || r.deleted.length || r.reverted.length) {
    const fs = add(root, "Root FS changes");
    for (const x of r.added) add(fs, `${x.path}${x.link ? ` -> ${x.link}` : ""} (${x.type}${x.type === "file" ? `, ${byteToString(x.size)}` : ""})`, "+");
    for (const x of r.changed) {
      const c = add(fs, `${x.path}: ${x.changes.map(changeText).join("; ")}`, "~");
      for (const line of x.unified_diff?.trimEnd().split("\n") ?? []) add(c, line);
    }
    for (const x of r.deleted) add(fs, `${x} (deleted)`, "-");
    for (const x of r.reverted) add(fs, `${x} (back to the image's version)`, "=");
  }
  if (d.notes.length) {
    const notes = add(root, "Not compared");
    for (const x of d.notes) add(notes, x);
  }
  return root;
}
