/**
 * The report page: one self-contained HTML file (inline CSS and SVG, no script, no URL of any kind),
 * so it opens the same on an air-gapped workstation and can be attached to a case file as is. A pure
 * function of the model: every value from the checkpoint is escaped in html.ts.
 */
import { formatMicros } from "../inspect-tree.js";
import { byteToString } from "../units.js";
import { definitionTable, escapeHtml, htmlTable } from "./html.js";
import { memoryLegend, memorySvg } from "./memory-svg.js";
import type { ReportModel } from "./model.js";

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212529;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dee2e6}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:4px 0 12px}th,td{border:1px solid #dee2e6;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5}td{font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;overflow-wrap:break-word}
table.kv th{width:220px}
.note{color:#6c757d;font-style:italic}
nav a{margin-right:12px}summary{cursor:pointer;margin:6px 0}
svg text{font-family:ui-monospace,monospace;font-size:11px}
svg .pl{fill:#fff;font-weight:bold}svg .pl.off{fill:#adb5bd}svg .lg{font-family:system-ui,sans-serif;font-size:12px}
`;

const SECTIONS: Array<[string, string]> = [
  ["container", "Container"],
  ["processes", "Processes"],
  ["memory", "Memory maps"],
  ["files", "Open files and sockets"],
  ["rootfs", "Root file system changes"],
  ["stats", "Dump statistics"],
  ["findings", "Findings"],
  ["hashes", "Evidence hashes"],
];

function section(id: string, body: string): string {
  const title = SECTIONS.find(([s]) => s === id)![1];
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>\n${body}\n</section>`;
}

const none = (what: string) => `<p class="note">${escapeHtml(what)}</p>`;

function containerSection(m: ReportModel): string {
  const c = m.container;
  let body = definitionTable([
    ["Container", c.container],
    ["Engine", c.engine],
    ["Runtime", c.runtime],
    ["Image", c.image],
    ["Container ID", c.id],
    ["Pod", m.metadata?.pod_name],
    ["Namespace", m.metadata?.kubernetes_namespace],
    ["IP", c.ip],
    ["Created", c.created],
    ["Checkpointed", m.checkpointed],
    ["CRIU version", m.criuVersion],
    ["Checkpoint size", byteToString(c.checkpointSize)],
    ["Root FS diff size", byteToString(c.rootfsDiffSize)],
    ["Archive", c.path],
  ]);
  const annotations = Object.entries(m.metadata?.annotations ?? {});
  if (annotations.length) body += `<details><summary>Annotations (${annotations.length})</summary>\n${htmlTable(["KEY", "VALUE"], annotations)}</details>`;
  if (m.mounts.length) body += `<details><summary>Mounts (${m.mounts.length})</summary>\n${htmlTable(["DESTINATION", "TYPE", "SOURCE"], m.mounts.map((x) => [x.destination, x.type, x.source]))}</details>`;
  return section("container", body);
}

const ids = (real?: number, eff?: number) => (real === undefined ? "" : eff !== undefined && eff !== real ? `${real} (eff ${eff})` : String(real));

function processSection(m: ReportModel): string {
  if (!m.processes.length) return section("processes", none("No process tree in the checkpoint."));
  const rows = m.processes.map((p) => [p.pid, p.ppid || "", "  ".repeat(p.depth) + p.command, p.cmdline ?? "", p.state, p.threads, ids(p.uid, p.euid), ids(p.gid, p.egid)]);
  return section("processes", htmlTable(["PID", "PPID", "COMMAND", "COMMAND LINE", "STATE", "THREADS", "UID", "GID"], rows, "ps"));
}

function memorySection(m: ReportModel): string {
  if (!m.memory.length) return section("memory", none("No memory images in the checkpoint."));
  const parts = [memoryLegend()];
  for (const p of m.memory) {
    const pages = p.vmas.reduce((n, v) => n + v.pages, 0);
    const dumped = p.vmas.reduce((n, v) => n + v.dumpedPages, 0);
    parts.push(`<h3 id="mm-${p.pid}">PID ${p.pid} ${escapeHtml(p.command)}: ${p.vmas.length} VMAs, ${dumped} of ${pages} pages dumped (${escapeHtml(byteToString(dumped * 4096))})</h3>`);
    parts.push(p.vmas.length ? memorySvg(p.vmas) : none("No memory (zombie or dead task)."));
  }
  return section("memory", parts.join("\n"));
}

function filesSection(m: ReportModel): string {
  const parts: string[] = [];
  const sockets = new Map(m.sockets.map((s) => [s.pid, s.open_sockets ?? []]));
  for (const f of m.files) {
    parts.push(`<h3>PID ${f.pid}</h3>`);
    parts.push(f.open_files?.length ? htmlTable(["FD", "TYPE", "PATH"], f.open_files.map((o) => [o.fd, o.type, o.path])) : none("No open files (zombie or dead task)."));
    const socks = sockets.get(f.pid) ?? [];
    if (socks.length) {
      const rows = socks.map((s) => {
        const d = s.data;
        const local = d.address ?? (d.src !== undefined || d.src_port !== undefined ? `${d.src ?? ""}:${d.src_port ?? 0}` : "");
        const remote = d.dst !== undefined || d.dst_port !== undefined ? `${d.dst ?? ""}:${d.dst_port ?? 0}` : "";
        return [s.fd, d.type ?? s.protocol ?? "", s.socket_type ?? "", d.state ?? "", local, remote, s.inode ?? "", s.queued_recv_bytes ?? "", s.queued_send_bytes ?? ""];
      });
      parts.push(htmlTable(["FD", "FAMILY/PROTO", "TYPE", "STATE", "LOCAL", "REMOTE", "INODE", "QUEUED IN (B)", "QUEUED OUT (B)"], rows));
    }
  }
  if (m.ghostFiles.length) {
    parts.push("<h3>Ghost files (deleted while open)</h3>");
    parts.push(htmlTable(["PATH", "SIZE", "IMAGE", "OPEN BY PID:FD"], m.ghostFiles.map((g) => [g.path, g.size, g.image, g.open_by.map((h) => `${h.pid}:${h.fd}`).join(", ")])));
  }
  return section("files", parts.length ? parts.join("\n") : none("No file descriptor images in the checkpoint."));
}

function rootfsSection(m: ReportModel): string {
  const parts = [
    "<h3>Changed files (rootfs-diff.tar)</h3>",
    m.rootfsDiff.length ? htmlTable(["PATH", "TYPE", "SIZE", "LINK"], m.rootfsDiff.map((f) => [f.path, f.type, f.size, f.link ?? ""])) : none("No rootfs-diff.tar, or it is empty."),
    "<h3>Deleted files (deleted.files)</h3>",
    m.deletedFiles.length ? htmlTable(["PATH"], m.deletedFiles.map((f) => [f])) : none("No deleted.files, or it is empty."),
  ];
  return section("rootfs", parts.join("\n"));
}

function statsSection(m: ReportModel): string {
  const s = m.container.stats;
  if (!s) return section("stats", none("No CRIU dump statistics (stats-dump) in the checkpoint."));
  return section(
    "stats",
    definitionTable([
      ["Freezing time", formatMicros(s.freezingTime)],
      ["Frozen time", formatMicros(s.frozenTime)],
      ["Memdump time", formatMicros(s.memdumpTime)],
      ["Memwrite time", formatMicros(s.memwriteTime)],
      ["Pages scanned", s.pagesScanned],
      ["Pages written", s.pagesWritten],
    ]),
  );
}

function findingsSection(m: ReportModel): string {
  if (!m.findings) return section("findings", none("The secret scan was not run for this report."));
  if (!m.findings.length) return section("findings", none("The secret scan found nothing."));
  const notes = (m.findingNotes ?? []).map(none).join("\n");
  const redacted = none("Secrets are shown redacted (a short prefix and suffix) here and wherever else this report shows text that holds them.");
  return section("findings", [htmlTable(["RULE", "WHERE", "PREVIEW"], m.findings.map((f) => [f.rule, f.where, f.preview]), "findings"), redacted, notes].filter(Boolean).join("\n"));
}

function hashesSection(m: ReportModel): string {
  const h = m.hashes;
  const parts = [];
  if (h.archive) parts.push(definitionTable([["Archive file", h.archive.path], ["Size (bytes)", h.archive.size], ["SHA-256", h.archive.sha256]]));
  parts.push(`<h3>${h.archive ? "Members" : "Files"} (${h.members.length})</h3>`);
  parts.push(htmlTable(["SHA-256", "SIZE", "NAME"], h.members.map((x) => [x.sha256, x.size, x.name]), "hashes"));
  if (m.refusedMembers.length) {
    parts.push("<h3>Refused members (not read, not hashed)</h3>");
    parts.push(htmlTable(["NAME", "REASON"], m.refusedMembers.map((r) => [r.name, r.reason])));
  }
  return section("hashes", parts.join("\n"));
}

export function renderReport(m: ReportModel): string {
  const title = `Checkpoint report: ${m.container.container || m.container.path}`;
  const nav = SECTIONS.map(([id, t]) => `<a href="#${id}">${escapeHtml(t)}</a>`).join("");
  return [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    // No request of any kind may leave the page, even if some markup got through.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="note">Made by ${escapeHtml(m.tool)} at ${escapeHtml(m.generated)} from ${escapeHtml(m.container.path)}.</p>`,
    `<nav>${nav}</nav>`,
    containerSection(m),
    processSection(m),
    memorySection(m),
    filesSection(m),
    rootfsSection(m),
    statsSection(m),
    findingsSection(m),
    hashesSection(m),
    "</body></html>",
    "",
  ].join("\n");
}
