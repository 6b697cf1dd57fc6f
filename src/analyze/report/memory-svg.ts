/**
 * A process's memory map as an inline SVG: one row per VMA with its address range, its protection
 * (three r/w/x cells), a bar colored by what backs it whose length grows with the log of its size,
 * the dumped pages drawn solid where they lie in the area and the rest pale, then pages and backing.
 * No xmlns: inline SVG in HTML needs none, and the page carries no URL at all.
 */
import { hex } from "../../criu-images/explore/pyformat.js";
import { escapeHtml } from "./html.js";
import { VMA_KINDS, type VmaKind, type VmaRow } from "./memory-map.js";

export const KIND_COLORS: Record<VmaKind, string> = {
  anon: "#4e79a7",
  file: "#59a14f",
  stack: "#e15759",
  heap: "#f28e2b",
  vdso: "#b07aa1",
  shared: "#edc948",
};

const KIND_LABELS: Record<VmaKind, string> = {
  anon: "anonymous private",
  file: "file-backed private",
  stack: "stack",
  heap: "heap",
  vdso: "vdso / vvar / vsyscall",
  shared: "shared (anon shared, SysV, memfd, shared file)",
};

const PERM_COLORS = { r: "#2b8a3e", w: "#e67700", x: "#c92a2a" } as const;
const ROW = 16;
const BAR_X = 330;
const BAR_MAX = 560;
const TEXT_X = BAR_X + BAR_MAX + 12;
const WIDTH = 1360;
/** Beyond this many VMAs a process's picture is cut (a hostile mm image could list millions). */
export const MAX_DRAWN_VMAS = 4000;

/** The VMA's address range as crit's `x mems` prints it. */
export function vmaRange(v: { start: bigint; end: bigint }): string {
  return `${hex(v.start, 8)}-${hex(v.end, 8)}`;
}

function barLength(pages: number, maxPages: number): number {
  const scale = Math.log2(maxPages + 1) || 1;
  return Math.max(8, Math.round((Math.log2(pages + 1) / scale) * BAR_MAX));
}

function permCells(prot: string, y: number): string {
  return (["r", "w", "x"] as const)
    .map((p, i) => {
      const on = prot[i] === p;
      const x = 250 + i * 22;
      return `<rect x="${x}" y="${y + 2}" width="18" height="${ROW - 4}" fill="${on ? PERM_COLORS[p] : "#e9ecef"}"/><text x="${x + 9}" y="${y + ROW - 4}" text-anchor="middle" class="pl${on ? "" : " off"}">${on ? p : "-"}</text>`;
    })
    .join("");
}

function vmaRow(v: VmaRow, y: number, maxPages: number): string {
  const len = barLength(v.pages, maxPages);
  const color = KIND_COLORS[v.kind];
  const perPage = v.pages ? len / v.pages : 0;
  const dumped = v.dumped
    .map(([a, b]) => `<rect x="${(BAR_X + a * perPage).toFixed(2)}" y="${y + 2}" width="${Math.max(1, (b - a) * perPage).toFixed(2)}" height="${ROW - 4}" fill="${color}"/>`)
    .join("");
  const title = `${vmaRange(v)} ${v.prot} ${v.kind} ${v.resource} — ${v.dumpedPages} of ${v.pages} pages dumped`;
  return (
    `<g><title>${escapeHtml(title)}</title>` +
    `<text x="0" y="${y + ROW - 4}" class="addr">${vmaRange(v)}</text>` +
    permCells(v.prot, y) +
    `<rect x="${BAR_X}" y="${y + 2}" width="${len}" height="${ROW - 4}" fill="${color}" fill-opacity="0.25" stroke="${color}" stroke-width="0.5"/>` +
    dumped +
    `<text x="${TEXT_X}" y="${y + ROW - 4}" class="res">${escapeHtml(`${v.dumpedPages}/${v.pages} pg  ${v.resource}`)}</text></g>`
  );
}

export function memorySvg(vmas: readonly VmaRow[]): string {
  const drawn = vmas.slice(0, MAX_DRAWN_VMAS);
  const maxPages = drawn.reduce((m, v) => Math.max(m, v.pages), 1);
  const height = Math.max(1, drawn.length) * ROW + 4;
  const rows = drawn.map((v, i) => vmaRow(v, i * ROW, maxPages)).join("\n");
  const cut = vmas.length > drawn.length ? `<p class="note">${vmas.length - drawn.length} more VMAs not drawn.</p>` : "";
  return `<svg class="mm" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img">\n${rows}\n</svg>${cut}`;
}

/** The key to the pictures: kinds, permissions, dumped against not dumped. */
export function memoryLegend(): string {
  const items: string[] = [];
  let x = 0;
  for (const kind of VMA_KINDS) {
    items.push(`<rect x="${x}" y="4" width="14" height="12" fill="${KIND_COLORS[kind]}"/><text x="${x + 18}" y="14" class="lg">${escapeHtml(KIND_LABELS[kind])}</text>`);
    x += 30 + KIND_LABELS[kind].length * 7.2;
  }
  let y = 26;
  const second = [
    `<rect x="0" y="${y}" width="40" height="12" fill="#4e79a7"/><text x="46" y="${y + 10}" class="lg">pages in the dump (placed where they lie in the area)</text>`,
    `<rect x="380" y="${y}" width="40" height="12" fill="#4e79a7" fill-opacity="0.25" stroke="#4e79a7" stroke-width="0.5"/><text x="426" y="${y + 10}" class="lg">pages not dumped (bar length: log of the area's size)</text>`,
  ];
  y += 20;
  const perms = (["r", "w", "x"] as const).map((p, i) => `<rect x="${i * 120}" y="${y}" width="18" height="12" fill="${PERM_COLORS[p]}"/><text x="${i * 120 + 24}" y="${y + 10}" class="lg">${{ r: "readable", w: "writable", x: "executable" }[p]}</text>`);
  return `<svg class="legend" width="${WIDTH}" height="${y + 16}" role="img" aria-label="legend">${items.join("")}${second.join("")}${perms.join("")}</svg>`;
}
