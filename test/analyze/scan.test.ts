import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ScanPool } from "../../src/analyze/scan/scan-pool.js";
import { StreamScanner } from "../../src/analyze/scan/stream-scanner.js";
import { Detector, type RuleHit } from "../../src/analyze/scan/detector.js";
import { ScanResult, type Location } from "../../src/analyze/scan/findings.js";
import { parseRuleFile } from "../../src/analyze/scan/rule-file.js";
import { BUILTIN_RULES, MAX_MATCH } from "../../src/analyze/scan/rules.js";
import { scanCheckpoint } from "../../src/analyze/scan/scan.js";
import { ImageDir } from "../../src/criu-images/image-dir.js";
import { buildArchive } from "../support/archives.js";
import { ensureCliBuilt, expectOneLineError, runCkpt } from "../support/ckpt-cli.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../support/criu-dump.js";
import { FIXTURE_DIRS, haveFixtures } from "../support/fixtures.js";

/** Samples each built-in rule must find (secret part in the second element), made up for the test. */
const SAMPLES: Record<string, [string, string]> = {
  "aws-access-key-id": ["key=AKIAQ3EGRT7HJX2KZW5M;", "AKIAQ3EGRT7HJX2KZW5M"],
  "aws-secret-access-key": ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYz9Qk3LmN0p\n", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz9Qk3LmN0p"],
  "gcp-service-account-key": [
    `{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\\n-----END PRIVATE KEY-----\\n", "client_email": "x"}`,
    "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\\n-----END PRIVATE KEY-----\\n",
  ],
  "private-key": [
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDm3P8ZgL1sZ1Lm2vY2X0l0bKkOaZ6eB3c8QkO3wT5cJQAAAJg=\n-----END OPENSSH PRIVATE KEY-----\n",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDm3P8ZgL1sZ1Lm2vY2X0l0bKkOaZ6eB3c8QkO3wT5cJQAAAJg=",
  ],
  jwt: [
    "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
  ],
  "github-token": ["GH=ghp_R8vX2kL9mQ4tY7wZ1nB5cD3fG6hJ0pS2uVaE\0", "ghp_R8vX2kL9mQ4tY7wZ1nB5cD3fG6hJ0pS2uVaE"],
  "gitlab-token": ["glpat-x7Kq2Lm9Np4Rt8Vw3Yz1 ", "glpat-x7Kq2Lm9Np4Rt8Vw3Yz1"],
  "slack-token": ["xoxb-2834710943-3917462057182-Gh7Kp2Lx9Qm4Rt8Vw3Yz1Nb5 ", "xoxb-2834710943-3917462057182-Gh7Kp2Lx9Qm4Rt8Vw3Yz1Nb5"],
  "slack-webhook": ["url: https://hooks.slack.com/services/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 ", "https://hooks.slack.com/services/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"],
  "password-assignment": ['db.password = "Xk29!mQz#7Lp"', "Xk29!mQz#7Lp"],
  "authorization-bearer": ["Authorization: Bearer Zk8Lp2Qx9Mn4Rt7Vw3Yz1Bc5Df\r\n", "Zk8Lp2Qx9Mn4Rt7Vw3Yz1Bc5Df"],
  "url-password": ["redis://cache:Vq8LmZ2kPx9s@redis.internal:6379/0", "Vq8LmZ2kPx9s"],
};

const NOT_SECRETS = [
  "AKIAAAAAAAAAAAAAAAAA", // no entropy
  "password=********",
  "password: %s",
  "password=${DB_PASSWORD}",
  "https://user:password@example.com/",
  "Bearer authentication is described in RFC 6750",
  "PWD=/home/user/projects",
  "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
];

function scanText(text: string | Buffer, detector = new Detector(BUILTIN_RULES)): Array<{ rule: string; secret: string; start: number }> {
  const buf = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  return detector.scan(buf).map((h) => ({ rule: BUILTIN_RULES[h.rule]?.id ?? String(h.rule), secret: h.secret, start: h.start }));
}

describe("built-in rules", () => {
  it.each(Object.entries(SAMPLES))("%s finds its sample and nothing else", (id, [text, secret]) => {
    expect(scanText(text)).toEqual([{ rule: id, secret, start: expect.any(Number) }]);
  });

  it.each(NOT_SECRETS)("no finding in %j", (text) => {
    expect(scanText(text)).toEqual([]);
  });

  it("reports every sample at its offset in one buffer of noise, whatever the window and piece boundaries", () => {
    const noise = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => "big-filler."[i % 11]!).join(""), "latin1");
    const parts: Buffer[] = [];
    const expected: Array<{ rule: string; start: number }> = [];
    let at = 0;
    for (const [i, [id, [text]]] of Object.entries(SAMPLES).entries()) {
      // Spread the samples over more than one detector window and piece.
      const gap = noise(7000 + i * 9001);
      parts.push(gap, Buffer.from("\0" + text + "\0", "latin1"));
      at += gap.length + 1;
      expected.push({ rule: id, start: at + scanText(text)[0]!.start });
      at += text.length + 1;
    }
    const all = Buffer.concat(parts);
    expect(scanText(all).map((h) => ({ rule: h.rule, start: h.start }))).toEqual(expected);
    for (const piece of [1000, 4096, MAX_MATCH + 17, 65536, 1 << 20]) {
      const pool = new ScanPool(BUILTIN_RULES, 0, 1);
      const found: Array<{ rule: string; start: number }> = [];
      const s = new StreamScanner(pool, (h: RuleHit, base) => found.push({ rule: BUILTIN_RULES[h.rule]!.id, start: base + h.start }));
      for (let off = 0; off < all.length; off += piece) s.feed(all.subarray(off, off + piece));
      s.end();
      found.sort((a, b) => a.start - b.start);
      expect(found, `pieces of ${piece}`).toEqual(expected);
    }
  });
});

describe("bytes made of anchors", () => {
  it.each(["passw", "://", ".eyJ", "-----BEGIN ", "AKIA", "Bearer "])("%j repeated over 4 MiB gives no finding", (anchor) => {
    const buf = Buffer.alloc(4 << 20);
    for (let i = 0; i + anchor.length <= buf.length; i += anchor.length) buf.write(anchor, i, "latin1");
    expect(scanText(buf)).toEqual([]);
  });
});

describe("rules files", () => {
  it("adds literal and regex rules, with a secret group and an entropy floor", () => {
    const rules = parseRuleFile(
      ["rules:", "  - name: canary", "    literal: CANARY-7f3a", "  - name: ikey", '    regex: "ikey_(?<secret>[A-Za-z0-9]{12})"', "    min_entropy: 3"].join("\n"),
      "r.yaml",
    );
    const d = new Detector([...BUILTIN_RULES, ...rules]);
    const hits = d.scan(Buffer.from("x CANARY-7f3a y ikey_Zq8Lp2Qx9Mn4 z ikey_aaaaaaaaaaaa"));
    expect(hits.map((h) => [d.rules[h.rule]!.id, h.secret])).toEqual([
      ["canary", "CANARY-7f3a"],
      ["ikey", "Zq8Lp2Qx9Mn4"],
    ]);
  });

  it.each([
    ["rules: [", /r\.yaml: not valid YAML/],
    ["rules: []", /r\.yaml: rules: /],
    ["rules:\n  - name: a\n    literal: x\n    regex: y", /r\.yaml: rules\.0: give exactly one of regex and literal/],
    ["rules:\n  - name: a\n    regex: '('", /r\.yaml: rules\.0\.regex: /],
    ["rules:\n  - name: a b\n    literal: x", /r\.yaml: rules\.0\.name: /],
    ["rules:\n  - name: a\n    literal: x\n    min_entropy: high", /r\.yaml: rules\.0\.min_entropy: /],
  ])("refuses %j naming the file and the rule", (text, message) => {
    expect(() => parseRuleFile(text, "r.yaml")).toThrow(message);
  });
});

describe.runIf(haveFixtures())("scan on the shared real dumps", () => {
  it("finds nothing in dumps that hold no secret, and says what it scanned", async () => {
    for (const dir of [FIXTURE_DIRS.runcCounter, FIXTURE_DIRS.unshareMix]) {
      const r = ScanResult.parse(await scanCheckpoint(dir));
      expect(r.findings, dir).toEqual([]);
      expect(r.scanned.memoryBytes, dir).toBeGreaterThan(0);
    }
  });
});

/** The expected place of each planted secret (secrets.py), as the scan should report it. */
function expectedLocations(dump: WorkloadDump, planted: Record<string, Record<string, unknown>>): Array<[string, string, Partial<Location>]> {
  const pid = dump.rootPid;
  return [
    ["github-token", planted.env!.value as string, { kind: "environment", pid, comm: "secrets", variable: "GITHUB_TOKEN" }],
    ["url-password", planted.cmdline!.value as string, { kind: "cmdline", pid, comm: "secrets" }],
    ["aws-access-key-id", planted.memory!.value as string, { kind: "memory", pid, address: "0x" + (planted.memory!.vaddr as number).toString(16) }],
    ["slack-token", planted.shared!.value as string, { kind: "shared-memory", offset: planted.shared!.offset as number, label: "shared anonymous memory" }],
    ["aws-secret-access-key", planted.rootfs!.value as string, { kind: "rootfs-file", path: "/etc/app/credentials", offset: planted.rootfs!.offset as number }],
    ["private-key", planted.ghost!.value as string, { kind: "ghost-file", path: planted.ghost!.path as string, offset: 0, openBy: [expect.objectContaining({ pid })] as never }],
    ["authorization-bearer", planted.pipe!.value as string, { kind: "queue", queue: "pipe", inode: planted.pipe!.inode as number, offset: planted.pipe!.offset as number }],
    ["gitlab-token", planted.socket!.value as string, { kind: "queue", queue: "unix-socket", inode: planted.socket!.inode as number, offset: planted.socket!.offset as number }],
  ];
}

describe.runIf(haveRealStack())("scan finds secrets planted in every place of a live process", () => {
  const work = mkdtempSync(join(tmpdir(), "ckpt-scan-"));
  let planted: WorkloadDump;
  let clean: WorkloadDump;
  let secrets: Record<string, Record<string, unknown>>;
  const archives: Record<string, string> = {};

  async function pack(dump: WorkloadDump, name: string): Promise<void> {
    const rootfs = join(work, `${name}-rootfs.tar`);
    execFileSync("tar", ["-C", join(dump.workDir, "rootfs"), "-cf", rootfs, "."]);
    archives[`${name}-crio`] = await buildArchive({ layout: "crio", imagesDir: dump.dir, out: join(work, `${name}-crio.tar`), rootfsDiff: rootfs });
    archives[`${name}-containerd-gz`] = await buildArchive({ layout: "containerd", imagesDir: dump.dir, out: join(work, `${name}-containerd.tar.gz`), rootfsDiff: rootfs, compression: "gzip" });
  }

  beforeAll(async () => {
    ensureCliBuilt();
    [planted, clean] = await Promise.all([dumpWorkload("secrets"), dumpWorkload("secrets", { secrets: "clean" })]);
    secrets = JSON.parse(readFileSync(join(planted.workDir, "secrets.json"), "utf8"));
    await pack(planted, "planted");
    await pack(clean, "clean");
  }, 180_000);
  afterAll(async () => {
    await planted?.cleanup();
    await clean?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  function scanJson(archive: string, ...flags: string[]): ScanResult & { status: number | null } {
    const r = runCkpt(["scan", archive, "--format", "json", ...flags]);
    expect(r.stderr).toBe("");
    return { ...ScanResult.parse(JSON.parse(r.stdout)), status: r.status };
  }

  it("each secret with its rule at its exact location, in the plain CRI-O archive and the gzip'd containerd one", () => {
    for (const name of ["planted-crio", "planted-containerd-gz"]) {
      const r = scanJson(archives[name]!, "--no-redact");
      expect(r.status, name).toBe(1);
      for (const [rule, value, where] of expectedLocations(planted, secrets)) {
        const finding = r.findings.find((f) => f.rule === rule && f.secret.includes(value));
        expect(finding, `${name}: ${rule} ${value}`).toBeDefined();
        expect(finding!.locations, `${name}: ${rule}`).toContainEqual(expect.objectContaining(where));
      }
      // Memory locations carry their VMA; the argument and environment ones lie in those areas.
      const key = r.findings.find((f) => f.rule === "aws-access-key-id")!;
      const mem = key.locations.find((l) => l.kind === "memory" && l.address === "0x" + (secrets.memory!.vaddr as number).toString(16));
      expect(mem).toMatchObject({ vma: { perms: "rw-" } });
      // Nothing but the planted secrets is reported.
      expect(new Set(r.findings.map((f) => f.rule))).toEqual(new Set(expectedLocations(planted, secrets).map(([rule]) => rule)));
    }
  });

  it("redacts by default, and prints a table grouped per process", () => {
    const r = scanJson(archives["planted-crio"]!);
    expect(r.redacted).toBe(true);
    const all = JSON.stringify(r);
    for (const [, value] of expectedLocations(planted, secrets)) expect(all).not.toContain(value);
    const table = runCkpt(["scan", archives["planted-crio"]!]);
    expect(table.status).toBe(1);
    expect(table.stdout).toContain(`pid ${planted.rootPid} (secrets)`);
    expect(table.stdout).toContain("environment GITHUB_TOKEN");
    expect(table.stdout).toContain("rootfs /etc/app/credentials");
    expect(table.stdout).toMatch(/findings at \d+ locations \(secrets redacted/);
    expect(table.stdout).not.toContain(secrets.env!.value as string);
  });

  it("finds the same with scanning threads as in one thread", () => {
    const one = scanJson(archives["planted-crio"]!, "--no-redact");
    process.env.CKPT_SCAN_THREADS = "3";
    try {
      const three = scanJson(archives["planted-crio"]!, "--no-redact");
      expect(three.findings).toEqual(one.findings);
    } finally {
      delete process.env.CKPT_SCAN_THREADS;
    }
  });

  it("`ckpt report --scan` puts the same findings, redacted, into the HTML page", () => {
    const out = join(work, "planted.html");
    const r = runCkpt(["report", archives["planted-crio"]!, "--scan", "-o", out]);
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(out, "utf8");
    const findings = html.slice(html.indexOf('<section id="findings">'));
    // The findings are redacted; the page's process table still shows command lines as dumped.
    for (const [rule, value] of expectedLocations(planted, secrets)) {
      expect(findings, rule).toContain(rule);
      expect(findings, rule).not.toContain(value);
    }
    expect(findings).toContain(`pid ${planted.rootPid} (secrets)`);
    expect(findings).toContain("rootfs /etc/app/credentials");
    const both = runCkpt(["report", archives["planted-crio"]!, "--scan", "--findings", out]);
    expect(both.status).not.toBe(0);
    expect(both.stderr).toBe("ckpt: give --scan or --findings, not both\n");
  });

  it("a clean dump of the same program gives no finding and exit status 0", () => {
    for (const name of ["clean-crio", "clean-containerd-gz"]) {
      const r = scanJson(archives[name]!);
      expect(r.findings, name).toEqual([]);
      expect(r.status, name).toBe(0);
      expect(r.scanned.rootfsFiles, name).toBe(1);
      expect(r.scanned.ghostFiles, name).toBe(1);
      expect(r.scanned.queues, name).toBeGreaterThanOrEqual(2);
    }
  });

  it("user rules find what they name; a bad rules file is one error line naming it", () => {
    const rules = join(work, "rules.yaml");
    writeFileSync(rules, `rules:\n  - name: db-host\n    literal: db.internal\n`);
    const r = scanJson(archives["clean-crio"]!, "--rules", rules);
    expect(r.findings.map((f) => f.rule)).toEqual(["db-host"]);
    expect(r.findings[0]!.locations).toContainEqual(expect.objectContaining({ kind: "cmdline", pid: clean.rootPid }));
    writeFileSync(rules, `rules:\n  - name: x\n`);
    expectOneLineError(runCkpt(["scan", archives["clean-crio"]!, "--rules", rules]), rules);
  });
});

/** A JWT whose header carries a certificate chain: `headerChars` characters of header. */
function longJwt(headerChars: number): string {
  const b64url = (s: string) => Buffer.from(s).toString("base64url");
  const cert = Array.from({ length: headerChars }, (_, i) => "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJRTESMBAGA1UE"[(i * 7) % 71]).join("");
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", x5c: [cert] })).slice(0, headerChars);
  return `${header}.${b64url(JSON.stringify({ sub: "1234567890", name: "John" }))}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U`;
}

describe("secrets that are easy to miss", () => {
  it.each([1200, 4000, 7900])("a JWT with a %i-character header is found whole", (n) => {
    const token = longJwt(n);
    expect(token.indexOf(".")).toBe(n);
    expect(scanText(`Authorization: X ${token}\n`)).toEqual([{ rule: "jwt", secret: token, start: 17 }]);
  });

  it.each([
    ["PASSWORD=hunter2\0", "hunter2"],
    ["app --password=summer4 --verbose", "summer4"],
    ["GET /login?user=bob&password=qwerty1&next=/ HTTP/1.1", "qwerty1"],
    ["MYSQL_PASSWORD=admin\0", "admin"],
    ['passwd = "letmein"', "letmein"],
    ["Server=db;Uid=app;Pwd=abc123;", "abc123"],
  ])("a weak password after an explicit key is reported: %j", (text, secret) => {
    expect(scanText(text)).toEqual([{ rule: "weak-password", secret, start: expect.any(Number) }]);
  });

  it("a strong pwd= value is a password-assignment, not a weak password", () => {
    expect(scanText("Server=db;Uid=app;Pwd=Xk29!mQz#7Lp;")).toEqual([{ rule: "password-assignment", secret: "Xk29!mQz#7Lp", start: 18 }]);
  });

  it.each([
    "password=changeme",
    "password=***",
    "password=<password>",
    "password=${DB_PASSWORD}",
    "password=",
    "password=abc",
    "passwd=password",
    "PWD=/home/user/projects\0OLDPWD=/tmp\0",
    "password=cfg.pw",
    "connect(user=user, password=os.environ['DB'])",
    "password: hunter2",
  ])("no finding in %j", (text) => {
    expect(scanText(text)).toEqual([]);
  });

  it("a match across any piece and job boundary is found once and whole, even the longest a rule makes", () => {
    const token = longJwt(7900);
    const filler = Buffer.alloc(5 << 20, "big-filler.");
    // Around the places where jobs end (about every 2 MiB of new bytes) and pieces end (64 KiB).
    for (const at of [0, 1, 65536 - 3, (2 << 20) - 1, (2 << 20) - MAX_MATCH / 2, (2 << 20) - token.length + 1, (2 << 20) + 5, (4 << 20) - 17]) {
      const buf = Buffer.from(filler);
      buf.write(` ${token} `, at, "latin1");
      const found: Array<{ rule: string; secret: string; start: number }> = [];
      const pool = new ScanPool(BUILTIN_RULES, 0, 1);
      const s = new StreamScanner(pool, (h: RuleHit, base) => found.push({ rule: BUILTIN_RULES[h.rule]!.id, secret: h.secret, start: base + h.start }));
      for (let off = 0; off < buf.length; off += 65536) s.feed(buf.subarray(off, off + 65536));
      s.end();
      expect(found, `token at ${at}`).toEqual([{ rule: "jwt", secret: token, start: at + 1 }]);
    }
  });
});

describe.runIf(haveRealStack())("scan finds secrets that are easy to miss in a live process", () => {
  const work = mkdtempSync(join(tmpdir(), "ckpt-scan-edge-"));
  let planted: WorkloadDump;
  let clean: WorkloadDump;
  let secrets: Record<string, Record<string, unknown>>;
  const archives: Record<string, string> = {};

  beforeAll(async () => {
    ensureCliBuilt();
    [planted, clean] = await Promise.all([dumpWorkload("secrets-edge"), dumpWorkload("secrets-edge", { secrets: "clean" })]);
    secrets = JSON.parse(readFileSync(join(planted.workDir, "secrets.json"), "utf8"));
    for (const [name, dump] of [["planted", planted], ["clean", clean]] as const) {
      archives[`${name}-crio`] = await buildArchive({ layout: "crio", imagesDir: dump.dir, out: join(work, `${name}-crio.tar`) });
      archives[`${name}-containerd-gz`] = await buildArchive({ layout: "containerd", imagesDir: dump.dir, out: join(work, `${name}-containerd.tar.gz`), compression: "gzip" });
    }
  }, 180_000);
  afterAll(async () => {
    await planted?.cleanup();
    await clean?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  function scanJson(archive: string): ScanResult & { status: number | null } {
    const r = runCkpt(["scan", archive, "--format", "json", "--no-redact"]);
    expect(r.stderr).toBe("");
    return { ...ScanResult.parse(JSON.parse(r.stdout)), status: r.status };
  }

  it("the ghost file is saved in chunks that follow each other, with the token across a boundary", () => {
    const dir = new ImageDir(planted.dir);
    const image = dir.files.list().find((n) => n.startsWith("ghost-file-"))!;
    const chunks = [...dir.stream(image)].slice(1).map((e) => ({ off: Number(e.message.off), len: Number(e.message.len) }));
    const { offset, value } = secrets.ghost as { offset: number; value: string };
    const boundary = chunks.find((c, i) => i > 0 && c.off === chunks[i - 1]!.off + chunks[i - 1]!.len && c.off > offset && c.off < offset + value.length);
    expect(boundary, JSON.stringify(chunks)).toBeDefined();
  });

  it("a long-header JWT, weak passwords and a token across ghost file chunks, in the plain and the gzip'd archive", () => {
    const pid = planted.rootPid;
    const expected: Array<[string, string, Partial<Location>]> = [
      ["jwt", secrets.jwt!.value as string, { kind: "environment", pid, variable: "ID_TOKEN" }],
      ["weak-password", secrets.env_password!.value as string, { kind: "environment", pid, variable: "MYSQL_PASSWORD" }],
      ["weak-password", secrets.cmdline_password!.value as string, { kind: "cmdline", pid }],
      ["weak-password", secrets.url_password!.value as string, { kind: "memory", pid, address: "0x" + (secrets.url_password!.vaddr as number).toString(16) }],
      ["github-token", secrets.ghost!.value as string, { kind: "ghost-file", offset: secrets.ghost!.offset as number }],
    ];
    expect((secrets.jwt!.value as string).indexOf(".")).toBeGreaterThan(1000);
    for (const name of ["planted-crio", "planted-containerd-gz"]) {
      const r = scanJson(archives[name]!);
      expect(r.status, name).toBe(1);
      for (const [rule, value, where] of expected) {
        const finding = r.findings.find((f) => f.rule === rule && f.secret === value);
        expect(finding, `${name}: ${rule} ${value}`).toBeDefined();
        expect(finding!.locations, `${name}: ${rule}`).toContainEqual(expect.objectContaining(where));
      }
      expect(new Set(r.findings.map((f) => f.rule)), name).toEqual(new Set(["jwt", "weak-password", "github-token"]));
      // One finding per secret: the ghost file's token is not reported twice around the boundary.
      const ghost = r.findings.flatMap((f) => f.locations).filter((l) => l.kind === "ghost-file");
      expect(ghost, name).toHaveLength(1);
    }
  });

  it("the same program with placeholders instead gives no finding", () => {
    for (const name of ["clean-crio", "clean-containerd-gz"]) {
      const r = scanJson(archives[name]!);
      expect(r.findings, name).toEqual([]);
      expect(r.status, name).toBe(0);
      expect(r.scanned.ghostFiles, name).toBe(1);
    }
  });
});
