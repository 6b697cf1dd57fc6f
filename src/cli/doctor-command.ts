/** `ckpt doctor`: one line per host check, with how to fix what is missing. Exit 1 when any check fails. */
import { checkHost } from "../checkpoint/host-checks.js";
import { writeStdout } from "./io.js";

export async function doctor(): Promise<number> {
  const checks = await checkHost();
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.map((c) => {
    const mark = c.status === "ok" ? "ok  " : c.status === "warn" ? "warn" : "FAIL";
    return `${mark}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? `\n      ${" ".repeat(width)}  fix: ${c.fix}` : ""}`;
  });
  writeStdout(lines.join("\n") + "\n");
  return checks.some((c) => c.status === "fail") ? 1 : 0;
}
