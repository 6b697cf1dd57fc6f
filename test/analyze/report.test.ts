/**
 * `ckpt report` on a real CRIU dump made now (the "mix" workload, started with a hostile argument
 * `<script>…</script>` in its command line), packed as CRI-O archives (plain tar and gzip), opened in
 * Debian's headless Chromium with every host name mapped to nothing. The page is checked as the
 * browser parsed it, against facts found independently: the workload's own pids, the VMA ranges the
 * real crit 4.2.1 decodes, sha256 of the archive file and of each member computed here.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import { collectReport } from "../../src/analyze/report/collect.js";
import { escapeHtml } from "../../src/analyze/report/html.js";
import { renderReport } from "../../src/analyze/report/render.js";
import { redact } from "../../src/analyze/scan/redact.js";
import { buildArchive, DEFAULT_CONTAINER, packTar, readArchive } from "../support/archives.js";
import { dumpDom, haveChromium, screenshot } from "../support/chromium.js";
import { ensureCliBuilt, REPO, runCkpt } from "../support/ckpt-cli.js";
import { haveCrit, runCrit } from "../support/crit.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../support/criu-dump.js";

const HOSTILE_ARG = `<script>alert("argv")</script><img src=x onerror=alert(1)>`;
const HOSTILE_FILE = `etc/<b onmouseover=alert(2)>passwd</b>`;
const HOSTILE_DELETED = `/var/<script>alert(3)</script>`;
const ARTIFACTS = join(REPO, "dist/test-artifacts");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** No attribute of the page may point anywhere but inside it. */
function externalReferences(html: string): string[] {
  const tags = [...html.matchAll(/<[a-z][^>]*>/gi)].map((m) => m[0]);
  const refs = tags.flatMap((t) => [...t.matchAll(/\s(?:src|href|xlink:href|action|poster|data|srcset)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]!));
  return [...refs.filter((r) => !r.startsWith("#")), ...(html.match(/https?:\/\/|url\(|@import/gi) ?? [])];
}

/** The first VMA of a process's mm image as the real crit decodes it, in `crit x mems` form. */
function critFirstVma(dir: string, pid: number): string {
  const r = runCrit([{ op: "decode", in: join(dir, `mm-${pid}.img`) }])[0]!;
  if (!r.ok) throw new Error(`crit decode mm-${pid}.img: ${r.error}`);
  const vma = JSON.parse(r.output.toString("utf8")).entries[0].vmas[0];
  const hex = (v: string | number) => BigInt(v).toString(16).padStart(8, "0");
  return `${hex(vma.start)}-${hex(vma.end)}`;
}

describe.skipIf(!haveRealStack() || !haveChromium() || !haveCrit())("ckpt report of a real dump in headless Chromium", () => {
  let dump: WorkloadDump;
  let work: string;
  let archive: string;
  let gzArchive: string;
  let html: string;
  let dom: string;

  beforeAll(async () => {
    ensureCliBuilt();
    dump = await dumpWorkload("mix", { extraArgs: [HOSTILE_ARG] });
    work = mkdtempSync(join(tmpdir(), "ckpt-report-"));
    const diff = join(work, "rootfs-diff.tar");
    writeFileSync(diff, packTar([{ name: "etc/", type: "dir" }, { name: HOSTILE_FILE, data: Buffer.from("root:x:0:0\n") }]));
    const common = { layout: "crio" as const, imagesDir: dump.dir, rootfsDiff: diff, deletedFiles: [HOSTILE_DELETED, "/tmp/gone.txt"] };
    archive = await buildArchive({ ...common, out: join(work, "mix.tar") });
    gzArchive = await buildArchive({ ...common, out: join(work, "mix.tar.gz"), compression: "gzip" });
    const out = join(work, "report.html");
    const r = runCkpt(["report", archive, "-o", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    html = readFileSync(out, "utf8");
    dom = dumpDom(out);
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await dump?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("shows the container, every pid of the workload and its command line, as the browser parsed them", () => {
    expect(dom).toContain("<h1>Checkpoint report: counter</h1>");
    for (const fact of [DEFAULT_CONTAINER.image, DEFAULT_CONTAINER.id, DEFAULT_CONTAINER.pod, "CRI-O", "runc"]) expect(dom).toContain(fact);
    const pids = [...dom.matchAll(/<table class="ps">[\s\S]*?<\/table>/g)][0]![0];
    for (const role of ["leader", "child", "zombie"]) expect(pids).toContain(`<td>${dump.pids[role]}</td>`);
    expect(pids).toContain("mix.py");
    // The zombie is listed with its state, not dropped.
    expect(pids).toMatch(new RegExp(`<td>${dump.pids.zombie}</td>.*<td>(Dead|Zombie)</td>`));
  });

  it("escapes hostile text from the checkpoint: it reaches the page as text, never as markup", () => {
    for (const hostile of [HOSTILE_ARG, HOSTILE_FILE, HOSTILE_DELETED]) {
      // Chromium serialises text nodes with < > & escaped: the text arrived whole, as text.
      expect(dom).toContain(hostile.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"));
    }
    expect(html).toContain(escapeHtml(HOSTILE_ARG));
    for (const page of [html, dom]) {
      // Only tags count: the same words inside escaped text are harmless.
      const tags = [...page.matchAll(/<[a-z][^>]*>/gi)].map((m) => m[0]);
      expect(tags.filter((t) => /^<(script|img|b)\b|\son\w+=/i.test(t))).toEqual([]);
    }
  });

  it("draws each live process's memory map with the VMA ranges crit reads from the same images", () => {
    for (const role of ["leader", "child"]) {
      const pid = dump.pids[role]!;
      const section = dom.slice(dom.indexOf(`id="mm-${pid}"`));
      const svg = section.slice(section.indexOf("<svg"), section.indexOf("</svg>"));
      expect(svg).toContain(`>${critFirstVma(dump.dir, pid)}</text>`);
      expect(svg).toMatch(/<rect [^>]*fill="#4e79a7"/); // anonymous memory, dumped
    }
    for (const label of ["anonymous private", "file-backed private", "stack", "heap", "vdso", "shared", "readable", "writable", "executable", "pages not dumped"]) {
      expect(dom).toContain(label);
    }
  });

  it("lists open files, sockets, rootfs changes, deleted files and dump statistics", () => {
    const files = dom.slice(dom.indexOf('<section id="files">'), dom.indexOf('<section id="rootfs">'));
    expect(files).toContain(dump.workDir);
    expect(files).toMatch(/ESTABLISHED/);
    expect(files).toMatch(/<td>UNIX<\/td>/);
    const rootfs = dom.slice(dom.indexOf('<section id="rootfs">'), dom.indexOf('<section id="stats">'));
    expect(rootfs).toContain("/tmp/gone.txt");
    const stats = dom.slice(dom.indexOf('<section id="stats">'), dom.indexOf('<section id="findings">'));
    expect(stats).toMatch(/Pages written<\/th><td>[1-9]\d*<\/td>/);
    expect(dom).toContain("The secret scan was not run for this report.");
  });

  it("hashes the archive file and every member, as computed here", async () => {
    expect(dom).toContain(sha256(readFileSync(archive)));
    for (const path of [archive, gzArchive]) {
      const out = join(work, `hashes-${path.endsWith(".gz") ? "gz" : "tar"}.html`);
      const r = runCkpt(["report", path, "-o", out]);
      expect(r.status, r.stderr).toBe(0);
      const page = readFileSync(out, "utf8");
      expect(page).toContain(`<td>${sha256(readFileSync(path))}</td>`);
      const members = (await readArchive(path)).filter((e) => e.type === "file");
      expect(members.length).toBeGreaterThan(20);
      for (const m of members) expect(page).toContain(`<tr><td>${sha256(m.data!)}</td><td>${m.size}</td><td>${escapeHtml(m.name)}</td></tr>`);
    }
  });

  it("makes no request: no URL in the page, and it renders offline to a PNG screenshot", () => {
    expect(externalReferences(html)).toEqual([]);
    expect(externalReferences(dom)).toEqual([]);
    const png = join(ARTIFACTS, "report-mix.png");
    rmSync(png, { force: true });
    screenshot(join(work, "report.html"), png);
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(bytes.readUInt32BE(16)).toBe(1400); // IHDR width
    expect(statSync(png).size).toBeGreaterThan(20_000);
  });

  it("renders secret-scan findings when given, escaped", async () => {
    const cp = await Checkpoint.open(archive);
    try {
      const model = await collectReport(cp, { findings: [{ rule: "aws-access-key", where: `pid ${dump.pids.leader} heap`, preview: "AKIA<script>…" }] });
      const page = renderReport(model);
      expect(page).toMatch(/<tr><td>aws-access-key<\/td><td>pid \d+ heap<\/td><td>AKIA&lt;script&gt;…<\/td><\/tr>/);
      expect(page).not.toContain("The secret scan was not run");
      expect(renderReport({ ...model, findings: [] })).toContain("The secret scan found nothing.");
    } finally {
      cp.close();
    }
    const file = join(work, "findings.json");
    writeFileSync(file, JSON.stringify([{ rule: "private-key", where: "rootfs-diff.tar:etc/key", preview: "-----BEGIN" }]));
    const out = join(work, "findings.html");
    const r = runCkpt(["report", archive, "--findings", file, "-o", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("<td>rootfs-diff.tar:etc/key</td>");
    writeFileSync(file, JSON.stringify([{ rule: 1 }]));
    const bad = runCkpt(["report", archive, "--findings", file, "-o", out]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^ckpt: .*findings\.json: not a list of findings .*\n$/);
  });
});

/**
 * `ckpt report --scan` and `--findings` on a real dump of the "secrets" workload (a GitHub token in
 * its environment, a database password in a URL on its command line), packed with the same secrets
 * in an annotation, a changed file's name and a deleted path: the page shows each secret only as the
 * scan redacts it, in the findings and wherever else it would show the text that holds it.
 */
describe.runIf(haveRealStack())("ckpt report with findings hides their secrets everywhere in the page", () => {
  let dump: WorkloadDump;
  let work: string;
  let archive: string;
  let token: string;
  let password: string;

  beforeAll(async () => {
    ensureCliBuilt();
    dump = await dumpWorkload("secrets");
    const planted = JSON.parse(readFileSync(join(dump.workDir, "secrets.json"), "utf8")) as Record<string, { value: string }>;
    token = planted.env!.value;
    password = planted.cmdline!.value;
    work = mkdtempSync(join(tmpdir(), "ckpt-report-secrets-"));
    const diff = join(work, "rootfs-diff.tar");
    writeFileSync(diff, packTar([{ name: "etc/", type: "dir" }, { name: `etc/token-${token}.txt`, data: Buffer.from("see the name\n") }]));
    archive = await buildArchive({
      layout: "crio",
      imagesDir: dump.dir,
      out: join(work, "secrets.tar"),
      rootfsDiff: diff,
      deletedFiles: [`/tmp/${token}`],
      spec: { annotations: { "app.example/database": `postgres://app:${password}@db.internal:5432/app` } },
    });
  }, 180_000);

  afterAll(async () => {
    await dump?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const report = (name: string, ...args: string[]) => {
    const out = join(work, `${name}.html`);
    const r = runCkpt(["report", archive, "-o", out, ...args]);
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(out, "utf8");
  };
  /** The page's own process table, annotations and root FS sections (everything but the findings). */
  const outsideFindings = (html: string) => html.slice(0, html.indexOf('<section id="findings">')) + html.slice(html.indexOf('<section id="hashes">'));

  it("without findings the page shows the secrets as dumped (what the redaction has to hide)", () => {
    const html = report("plain");
    expect(html).toContain(token);
    expect(html).toContain(password);
  });

  it("--scan: no secret in the clear anywhere; the redacted forms in the command line, annotation, file names and findings", () => {
    const html = report("scan", "--scan");
    for (const secret of [token, password]) {
      expect(html).not.toContain(secret);
      expect(outsideFindings(html)).toContain(escapeHtml(redact(secret)));
    }
    const ps = [...html.matchAll(/<table class="ps">[\s\S]*?<\/table>/g)][0]![0];
    expect(ps).toContain(escapeHtml(`--db-url=postgres://app:${redact(password)}@db.internal:5432/app`));
    expect(html).toContain(escapeHtml(`postgres://app:${redact(password)}@db.internal:5432/app`) + "</td>");
    expect(html).toContain(`<td>etc/token-${redact(token)}.txt</td>`);
    expect(html).toContain(`<td>/tmp/${redact(token)}</td>`);
    const findings = html.slice(html.indexOf('<section id="findings">'), html.indexOf('<section id="hashes">'));
    expect(findings).toContain("<td>github-token</td>");
    expect(findings).toContain("<td>url-password</td>");
    expect(findings).toContain(redact(token));
  });

  it("--findings with `ckpt scan --format json` output, redacted or not: the same page", () => {
    const scanned = (name: string, ...flags: string[]) => {
      const file = join(work, `${name}.json`);
      writeFileSync(file, runCkpt(["scan", archive, "--format", "json", ...flags]).stdout);
      return file;
    };
    const fromScan = report("scan-again", "--scan");
    const pages = [report("from-redacted", "--findings", scanned("redacted")), report("from-clear", "--findings", scanned("clear", "--no-redact"))];
    // Alike but for the time the page was made.
    const body = (html: string) => html.replace(/ at \d{4}-\d\d-\d\dT[^ ]+ from /, " at T from ");
    for (const html of pages) {
      for (const secret of [token, password]) expect(html).not.toContain(secret);
      expect(body(html)).toBe(body(fromScan));
    }
  });

  it("--findings with a list that gives no secrets says so on the page", () => {
    const file = join(work, "rows.json");
    writeFileSync(file, JSON.stringify([{ rule: "github-token", where: "environment GITHUB_TOKEN", preview: redact(token) }]));
    const html = report("rows", "--findings", file);
    expect(html).toContain("1 finding(s) of the findings file give no secret");
    writeFileSync(file, JSON.stringify([{ rule: "github-token", where: "environment GITHUB_TOKEN", preview: redact(token), secret: token }]));
    const hidden = report("rows-secret", "--findings", file);
    expect(hidden).not.toContain(token);
    expect(hidden).toContain(`<td>/tmp/${redact(token)}</td>`);
  });
});
