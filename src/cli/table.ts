/** Boxed tables on stdout (cli-table3), without colour when NO_COLOR is set or stdout is not a terminal. */
import Table from "cli-table3";

export function renderTable(header: string[], rows: string[][], title?: string): string {
  const colour = process.stdout.isTTY && !process.env.NO_COLOR;
  const table = new Table({ head: header, style: { head: colour ? ["cyan"] : [], border: colour ? ["grey"] : [] } });
  table.push(...rows);
  return (title ? title + "\n" : "") + table.toString() + "\n";
}
