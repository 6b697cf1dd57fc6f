/**
 * Debian's headless Chromium as a test oracle for HTML output: the DOM as the browser parsed it, and a
 * screenshot. Every run maps all host names to nothing, so a page that tried to reach the network
 * could not.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";

const CHROMIUM = process.env.CKPT_CHROMIUM ?? "/usr/bin/chromium";
const OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

function chromium(args: string[], file: string): { stdout: string; stderr: string } {
  const r = spawnSync(CHROMIUM, [...OFFLINE, ...args, pathToFileURL(file).href], { encoding: "utf8", timeout: 120_000, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`chromium ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr.slice(-2000)}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** The page's DOM after parsing, serialised (text is escaped again: a "<" in text reads "&lt;"). */
export function dumpDom(file: string): string {
  return chromium(["--dump-dom"], file).stdout;
}

export function screenshot(file: string, png: string, size = "1400,2000"): void {
  chromium([`--screenshot=${png}`, `--window-size=${size}`], file);
}
