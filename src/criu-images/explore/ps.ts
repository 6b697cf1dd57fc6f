/** `x ps`: the process tree with PID, PGID, SID and comm, children indented four spaces a level. */
import type { ImageDir } from "../image-dir.js";
import { listProcesses, type ProcessInfo } from "./processes.js";
import { padLeft } from "./pyformat.js";

export interface PsNode extends Omit<ProcessInfo, "core"> {
  children: PsNode[];
}

export function psTree(dir: ImageDir): PsNode[] {
  const nodes = new Map<number, PsNode>();
  for (const { core: _core, ...p } of listProcesses(dir)) nodes.set(p.pid, { ...p, children: [] });
  const roots: PsNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.ppid === 0 ? undefined : nodes.get(node.ppid);
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}

export function renderPs(roots: readonly PsNode[]): string {
  const lines = [`${padLeft("PID", 7)}${padLeft("PGID", 7)}${padLeft("SID", 7)}   COMM`];
  const walk = (n: PsNode, depth: number) => {
    lines.push(`${padLeft(n.pid, 7)}${padLeft(n.pgid, 7)}${padLeft(n.sid, 7)}   ${" ".repeat(4 * depth)}${n.comm}`);
    for (const kid of n.children) walk(kid, depth + 1);
  };
  for (const root of roots) walk(root, 0);
  return lines.join("\n") + "\n";
}
