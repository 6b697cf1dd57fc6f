/** Boxed tables on stdout (cli-table3), without colour when NO_COLOR is set or stdout is not a terminal. */
import Table from "cli-table3";

const CYAN = (s: string) => `\x1b[36m${s}\x1b[39m`;

export function renderTable(header: string[], rows: string[][], title?: string): string {
  // The colour is applied here rather than through cli-table3's style option: that one depends on
  // a terminal check made when the library is loaded, which a startup snapshot (bin/ckpt) freezes.
  const colour = process.stdout.isTTY && !process.env.NO_COLOR;
  const table = new Table({ head: colour ? header.map(CYAN) : header, style: { head: [], border: [] } });
  table.push(...rows);
  return (title ? title + "\n" : "") + table.toString() + "\n";
}
