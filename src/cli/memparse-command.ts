/** `ckpt memparse ARCHIVE [-p PID] [-s STR | -r REGEX | --hex BYTES] [-c N] [-o FILE] [--format json]` */
import { Command, Option } from "commander";
import { closeSync, openSync, writeSync } from "node:fs";
import type { Checkpoint } from "../checkpoint/checkpoint.js";
import { hexdumpProcess, HEXDUMP_HEADER } from "../analyze/memparse/hexdump.js";
import { hexMatcher, literalMatcher, regexMatcher, type Matcher } from "../analyze/memparse/matcher.js";
import { processMemorySizes } from "../analyze/memparse/memory-sizes.js";
import { searchMemory, type MemoryMatch } from "../analyze/memparse/search.js";
import { byteToString } from "../analyze/units.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { renderTable } from "./table.js";
import { progressBar, type Progress } from "./progress.js";
import { identityFrom, identityOption, openCheckpointArg } from "./checkpoint-arg.js";

interface MemparseOptions {
  pid?: string;
  search?: string;
  searchRegex?: string;
  hex?: string;
  context: string;
  output?: string;
  format: "table" | "json";
  identity?: string;
}

function matcherFor(opts: MemparseOptions): Matcher | undefined {
  const given = [opts.search, opts.searchRegex, opts.hex].filter((v) => v !== undefined);
  if (given.length > 1) throw new UserError("give only one of -s, -r and --hex");
  try {
    if (opts.search !== undefined) return literalMatcher(Buffer.from(opts.search, "utf8"), JSON.stringify(opts.search));
    if (opts.searchRegex !== undefined) return regexMatcher(opts.searchRegex);
    if (opts.hex !== undefined) return hexMatcher(opts.hex);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  return undefined;
}

function printable(bytes: Buffer): string {
  let s = "";
  for (const b of bytes) s += b >= 32 && b < 127 ? String.fromCharCode(b) : ".";
  return s;
}

function where(m: MemoryMatch): string {
  return m.region.kind === "process" ? `${m.region.pid} (${m.region.comm})` : `shmem ${m.region.shmid} (${m.region.label})`;
}

function vmaText(m: MemoryMatch): string {
  if (m.region.kind === "shmem") return `offset 0x${m.address.toString(16)}`;
  const v = m.vma;
  if (!v) return "-";
  return `${v.start.toString(16)}-${v.end.toString(16)} ${v.prot}${v.resource ? " " + v.resource : ""}`;
}

export function memparseCommand(): Command {
  return new Command("memparse")
    .description("analyse process memory: sizes per process, a hexdump (-p), or a search across all memory (-s/-r/--hex)")
    .argument("<archive>", "checkpoint archive or directory")
    .option("-p, --pid <pid>", "one process (hexdump, or limits the search)")
    .option("-s, --search <string>", "search for a literal string")
    .option("-r, --search-regex <regex>", "search with a regular expression (JavaScript syntax, on bytes as latin1)")
    .option("--hex <bytes>", "search for raw bytes given in hex, e.g. 7f454c46")
    .option("-c, --context <n>", "bytes of context around each match", "16")
    .option("-o, --output <file>", "write the hexdump to a file")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
    .addOption(identityOption())
    .action(async (path: string, opts: MemparseOptions) => {
      const pid = opts.pid === undefined ? undefined : Number(opts.pid);
      if (pid !== undefined && !(Number.isInteger(pid) && pid > 0)) throw new UserError(`-p wants a process ID, got "${opts.pid}"`);
      const context = Number(opts.context);
      if (!(Number.isInteger(context) && context >= 0)) throw new UserError(`-c wants a number of bytes, got "${opts.context}"`);
      const matcher = matcherFor(opts);
      const cp = await openCheckpointArg(path, identityFrom(opts.identity));
      try {
        if (matcher) return await search(cp, matcher, pid, context, opts.format);
        if (pid !== undefined) return await hexdump(cp, pid, opts.output);
        const sizes = processMemorySizes(cp.images);
        if (opts.format === "json") return writeStdout(JSON.stringify(sizes, null, 2) + "\n");
        writeStdout(
          `Displaying processes memory sizes from ${path}\n` +
            renderTable(["PID", "PROCESS NAME", "STATE", "MEMORY SIZE", "SHARED MEMORY SIZE"], sizes.map((s) => [String(s.pid), s.comm, s.state, byteToString(s.memorySize), byteToString(s.sharedMemorySize)])),
        );
      } finally {
        cp.close();
      }
    });
}

async function hexdump(cp: Checkpoint, pid: number, output: string | undefined): Promise<void> {
  if (!cp.images.has(`pagemap-${pid}.img`)) throw new UserError(`${cp.path}: no dumped memory for process ${pid}`);
  if (!output) {
    writeStdout(`Displaying memory pages content for process ID ${pid} from checkpoint: ${cp.path}\n\n` + HEXDUMP_HEADER);
    await hexdumpProcess(cp, pid, writeStdout, true);
    return;
  }
  const fd = openSync(output, "w", 0o600);
  try {
    writeSync(fd, HEXDUMP_HEADER);
    await hexdumpProcess(cp, pid, (t) => void writeSync(fd, t), false);
  } finally {
    closeSync(fd);
  }
  writeStdout(`Wrote the memory of process ${pid} to ${output}\n`);
}

async function search(cp: Checkpoint, matcher: Matcher, pid: number | undefined, context: number, format: "table" | "json"): Promise<void> {
  let bar: Progress | undefined;
  const result = await searchMemory(cp, matcher, {
    pid,
    context,
    onProgress: (done, total) => (bar ??= progressBar("searching", total)).update(done),
  });
  bar?.stop();
  if (format === "json") {
    const matches = result.matches.map((m) => ({
      pid: m.region.pid,
      comm: m.region.comm,
      shmid: m.region.shmid,
      region: m.region.label,
      address: "0x" + m.address.toString(16),
      length: m.length,
      vma: m.vma ? { start: "0x" + m.vma.start.toString(16), end: "0x" + m.vma.end.toString(16), prot: m.vma.prot, resource: m.vma.resource } : undefined,
      context: printable(m.context),
      context_hex: m.context.toString("hex"),
      match_offset: m.contextStart,
    }));
    return writeStdout(JSON.stringify({ pattern: matcher.describe, searched_bytes: result.searchedBytes, lazy_pages: result.lazyPages, parent_pages: result.parentPages, matches }, null, 2) + "\n");
  }
  const skipped = result.lazyPages + result.parentPages;
  const note = `Searched ${byteToString(result.searchedBytes)} of memory in ${result.regions} regions for ${matcher.describe}` + (skipped ? `; ${skipped} pages are not in the images (lazy or in a parent dump)` : "") + "\n";
  if (result.matches.length === 0) return writeStdout(note + `No matches for ${matcher.describe}\n`);
  const rows = result.matches.map((m) => [where(m), "0x" + m.address.toString(16).padStart(16, "0"), vmaText(m), printable(m.context)]);
  writeStdout(note + renderTable(["PROCESS", "ADDRESS", "VMA", "MATCH"], rows));
}
