/**
 * HTML text from untrusted strings. Everything a checkpoint holds (command lines, paths, annotations)
 * may be hostile: every value goes through escapeHtml, and markup is only ever made here and in the
 * renderers from constant strings.
 */

/** Escapes the five characters that can end a text node or an attribute value; control characters
 * (but tab and newline) are shown as \xNN, as they have no visible form. */
export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** A table whose cells are plain text (escaped here). */
export function htmlTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>, className = ""): string {
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table${className ? ` class="${escapeHtml(className)}"` : ""}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Name/value rows, values left out when undefined or empty. */
export function definitionTable(rows: ReadonlyArray<readonly [string, unknown]>): string {
  const shown = rows.filter(([, v]) => v !== undefined && v !== "");
  return `<table class="kv"><tbody>\n${shown.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("\n")}\n</tbody></table>`;
}
