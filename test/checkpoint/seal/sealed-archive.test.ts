/**
 * Sealed archives on the real stack: a CRIU dump made now of the "mix" workload, packed as a CRI-O
 * archive (plain and gzip), sealed by `ckpt seal` for two recipients, opened by each, by the age CLI
 * (Debian's `age`, when installed) and read with the key by every command that reads archives; a byte
 * changed in the middle, a cut file, a changed header and a wrong key are refused in one line.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGE_MAGIC, chunkNonce, CHUNK_SIZE, detectSealed, headerLength, SEALED_CHUNK_SIZE } from "../../../src/checkpoint/seal/age-format.js";
import { parseIdentityFile } from "../../../src/checkpoint/seal/identity-file.js";
import { buildArchive } from "../../support/archives.js";
import { ckpt, ensureCliBuilt, expectOneLineError, runCkpt, type CliResult } from "../../support/ckpt-cli.js";
import { dumpWorkload, haveRealStack, type WorkloadDump } from "../../support/criu-dump.js";

const haveAge = spawnSync("sh", ["-c", "command -v age && command -v age-keygen"]).status === 0;

describe("the age format's pure parts", () => {
  it("tells a sealed file by its first bytes, binary or armored", () => {
    expect(detectSealed(Buffer.from(AGE_MAGIC + "-> X25519 abc\n"))).toBe("age");
    expect(detectSealed(Buffer.from("-----BEGIN AGE ENCRYPTED FILE-----\n"))).toBe("age-armor");
    expect(detectSealed(Buffer.from([0x1f, 0x8b, 8, 0]))).toBeUndefined();
    expect(detectSealed(Buffer.from("age-encryption.org/v2\n"))).toBeUndefined();
  });

  it("finds the end of the header at the MAC line, not at a stanza", () => {
    const header = `${AGE_MAGIC}-> X25519 AAAA\nBBBB\n--- CCCC\n`;
    expect(headerLength(Buffer.concat([Buffer.from(header), Buffer.alloc(16, 0x2d)]))).toBe(header.length);
    expect(headerLength(Buffer.from(`${AGE_MAGIC}-> X25519 AAAA\n--- CC`))).toBeUndefined();
  });

  it("numbers chunks big-endian in 11 bytes with the last-chunk flag after them", () => {
    expect([...chunkNonce(0, false)]).toEqual(Array(12).fill(0));
    expect([...chunkNonce(0x0102, true)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1]);
    expect(SEALED_CHUNK_SIZE - CHUNK_SIZE).toBe(16);
  });

  it("reads identity files, naming a bad line by number only", () => {
    const key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    expect(parseIdentityFile(`# created\n\n${key}\n`, "k.txt").keys).toEqual([key]);
    expect(() => parseIdentityFile(`# c\nage1abc\n`, "k.txt")).toThrow(/^k\.txt: line 2 is not an age identity/);
    expect(() => parseIdentityFile(`# only a comment\n`, "k.txt")).toThrow(/no age identity/);
  });
});

describe.runIf(haveRealStack())("ckpt seal / unseal on a real checkpoint archive", () => {
  const work = mkdtempSync(join(tmpdir(), "ckpt-seal-"));
  let dump: WorkloadDump;
  let plain: string;
  let gzipped: string;
  const keys = { a: join(work, "a.key"), b: join(work, "b.key"), other: join(work, "other.key") };
  const recipients: Record<string, string> = {};

  function keygen(file: string): string {
    const r = runCkpt(["seal", "keygen", "-o", file]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    return r.stdout.trim();
  }

  function sealed(archive: string, name: string, ...who: string[]): string {
    const out = join(work, name);
    const r = runCkpt(["seal", archive, ...who.flatMap((w) => ["-r", recipients[w]!]), "-o", out]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(new RegExp(`sealed for ${who.length} recipient`));
    return out;
  }

  function unseal(file: string, key: string, out: string): CliResult {
    rmSync(out, { force: true });
    return runCkpt(["unseal", file, "-i", key, "-o", out]);
  }

  /** A copy of `file` with one byte changed (xor 1) at `at`. */
  function flipped(file: string, at: number, name: string): string {
    const bytes = readFileSync(file);
    bytes[at]! ^= 1;
    const out = join(work, name);
    writeFileSync(out, bytes);
    return out;
  }

  /** Temp files a failed write would have left in the work directory. */
  const leftovers = () => readdirSync(work).filter((n) => n.includes(".tmp-"));

  beforeAll(async () => {
    ensureCliBuilt();
    dump = await dumpWorkload("mix");
    const common = { layout: "crio" as const, imagesDir: dump.dir };
    plain = await buildArchive({ ...common, out: join(work, "mix.tar"), compression: "none" });
    gzipped = await buildArchive({ ...common, out: join(work, "mix.tar.gz"), compression: "gzip" });
    recipients.a = keygen(keys.a);
    recipients.b = keygen(keys.b);
    recipients.other = keygen(keys.other);
  }, 180_000);

  afterAll(async () => {
    await dump?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it("keygen writes an age identity file, mode 0600, never over an existing one", () => {
    expect(recipients.a).toMatch(/^age1[0-9a-z]{58}$/);
    const text = readFileSync(keys.a, "utf8");
    expect(text).toContain(`# public key: ${recipients.a}\n`);
    expect(text).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/m);
    expect(spawnSync("stat", ["-c", "%a", keys.a], { encoding: "utf8" }).stdout.trim()).toBe("600");
    expectOneLineError(runCkpt(["seal", "keygen", "-o", keys.a]), keys.a);
    expect(readFileSync(keys.a, "utf8")).toBe(text);
  });

  it("seal then unseal gives the archive back byte for byte, for each of two recipients", () => {
    for (const archive of [plain, gzipped]) {
      const file = sealed(archive, `${archive.split("/").at(-1)}.two.age`, "a", "b");
      expect(readFileSync(file).subarray(0, AGE_MAGIC.length).toString()).toBe(AGE_MAGIC);
      expect(readFileSync(file).includes(readFileSync(archive).subarray(0, 4096))).toBe(false);
      for (const key of [keys.a, keys.b]) {
        const out = join(work, "opened");
        const r = unseal(file, key, out);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(readFileSync(out).equals(readFileSync(archive))).toBe(true);
      }
    }
  });

  it("the default names: ARCHIVE.age, and back without .age; an existing output is left alone", () => {
    const copy = join(work, "named.tar");
    copyFileSync(plain, copy);
    expect(runCkpt(["seal", copy, "-r", recipients.a!]).status).toBe(0);
    expect(existsSync(copy + ".age")).toBe(true);
    expectOneLineError(runCkpt(["seal", copy, "-r", recipients.a!]), copy + ".age");
    rmSync(copy);
    const r = runCkpt(["unseal", copy + ".age", "-i", keys.a]);
    expect(r.stdout).toBe(`${copy}: unsealed (${readFileSync(plain).length} bytes)\n`);
    expect(readFileSync(copy).equals(readFileSync(plain))).toBe(true);
  });

  it("a byte changed in the middle is refused, naming the file, the chunk and its offset; nothing is written", () => {
    const file = sealed(plain, "mid.age", "a");
    const size = readFileSync(file).length;
    expect(size).toBeGreaterThan(4 * SEALED_CHUNK_SIZE);
    const bad = flipped(file, Math.floor(size / 2), "mid-flipped.age");
    const out = join(work, "mid.out");
    const line = expectOneLineError(unseal(bad, keys.a, out), bad);
    const m = /sealed chunk (\d+) at offset (\d+) \(\d+ bytes\) fails authentication/.exec(line);
    expect(m, line).not.toBeNull();
    const [chunk, offset] = [Number(m![1]), Number(m![2])];
    expect(offset).toBeLessThanOrEqual(Math.floor(size / 2));
    expect(offset + SEALED_CHUNK_SIZE).toBeGreaterThan(Math.floor(size / 2));
    expect(chunk).toBeGreaterThan(0);
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
    // The reading commands refuse it too, with the same line.
    expect(expectOneLineError(runCkpt(["show", "-i", keys.a, bad]), bad)).toBe(line);
  });

  it("a cut file, a changed header and a file that is not sealed are refused in one line", () => {
    const file = sealed(plain, "cut.age", "a");
    const bytes = readFileSync(file);
    const cut = join(work, "cut-short.age");
    writeFileSync(cut, bytes.subarray(0, bytes.length - 1000));
    expect(expectOneLineError(unseal(cut, keys.a, join(work, "cut.out")), cut)).toMatch(/tampered with or truncated/);
    const header = flipped(file, headerLength(bytes)! - 5, "header-flipped.age");
    expectOneLineError(unseal(header, keys.a, join(work, "header.out")), header);
    expect(expectOneLineError(unseal(plain, keys.a, join(work, "plain.out")), plain)).toMatch(/not a sealed archive/);
    expect(leftovers()).toEqual([]);
  });

  it("a wrong identity is refused with a clear message; no identity at all too", () => {
    const file = sealed(plain, "wrong.age", "a", "b");
    const line = expectOneLineError(unseal(file, keys.other, join(work, "wrong.out")), file);
    expect(line).toContain(`no key in ${keys.other} opens it`);
    expect(existsSync(join(work, "wrong.out"))).toBe(false);
    expect(expectOneLineError(runCkpt(["show", file]), file)).toBe(`ckpt: ${file}: sealed archive: give --identity`);
    expect(expectOneLineError(runCkpt(["show", "--identity", keys.other, file]), file)).toBe(line);
  });

  it("show, inspect and memparse print with --identity what they print on the plain archive; list finds it", async () => {
    for (const archive of [plain, gzipped]) {
      const file = sealed(archive, `${archive.split("/").at(-1)}.read.age`, "a");
      const cases = [["show"], ["inspect", "--all", "--format", "json"], ["memparse"], ["memparse", "-s", dump.markers.leader!, "--format", "json"]];
      for (const args of cases) {
        const want = await ckpt([...args, archive]);
        expect(want.exitCode, want.stderr.toString()).toBe(0);
        const got = await ckpt([...args, "--identity", keys.a, file]);
        expect(got.stderr.toString()).toBe("");
        expect(got.stdout.toString().replaceAll(file, archive), args.join(" ")).toBe(want.stdout.toString());
      }
      const found = JSON.parse((await ckpt(["memparse", "-i", keys.a, file, "-s", dump.markers.leader!, "--format", "json"])).stdout.toString());
      expect(found.matches.length).toBeGreaterThan(0);
      // CKPT_IDENTITY in place of --identity.
      const env = spawnSync(join(import.meta.dirname, "../../../bin/ckpt"), ["show", file], { env: { ...process.env, CKPT_IDENTITY: keys.a }, encoding: "utf8" });
      expect(env.stdout.replaceAll(file, archive)).toBe((await ckpt(["show", archive])).stdout.toString());
    }
    const dir = mkdtempSync(join(work, "listed-"));
    copyFileSync(sealed(plain, "list.age", "b"), join(dir, "checkpoint-mix_default-mix-2026-01-01T00:00:00Z.tar.age"));
    const listed = runCkpt(["list", dir, "-i", keys.b, "--format", "json"]);
    expect(listed.stderr).toBe("");
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: "checkpoint-mix_default-mix-2026-01-01T00:00:00Z.tar.age", engine: "CRI-O" })]);
  });

  it("scan, diff, coredump and report read a sealed archive with --identity as they read the plain one", () => {
    const file = sealed(gzipped, "forensics.age", "a");
    const same = (args: string[]) => {
      const a = runCkpt([...args, gzipped]);
      const b = runCkpt([...args, file, "-i", keys.a]);
      expect(b.stderr).toBe(a.stderr);
      expect(b.status, b.stderr).toBe(a.status);
      // The same output, but for the file's name where it is printed.
      expect(b.stdout.replaceAll(file, gzipped)).toBe(a.stdout);
      return a.stdout;
    };
    expect(JSON.parse(same(["scan", "--format", "json", "--exit-code", "0"])).scanned.memoryBytes).toBeGreaterThan(0);
    expect(JSON.parse(same(["diff", gzipped, "--format", "json"])).processes).toBeDefined();
    const cores = (dir: string) => readdirSync(dir).sort().map((n) => [n, createHash("sha256").update(readFileSync(join(dir, n))).digest("hex")]);
    for (const [dir, input, extra] of [[join(work, "cores-plain"), gzipped, []], [join(work, "cores-sealed"), file, ["-i", keys.a]]] as const) {
      mkdirSync(dir);
      const r = runCkpt(["coredump", input, "-o", dir, ...extra]);
      expect(r.status, r.stderr).toBe(0);
    }
    expect(cores(join(work, "cores-sealed"))).toEqual(cores(join(work, "cores-plain")));
    expect(cores(join(work, "cores-plain")).length).toBeGreaterThan(0);
    const html = runCkpt(["report", file, "-i", keys.a]);
    expect(html.status, html.stderr).toBe(0);
    expect(html.stdout).toContain("<html");
    expect(html.stdout).toContain("checkpoint/inventory.img");
    expect(expectOneLineError(runCkpt(["scan", file]), file)).toBe(`ckpt: ${file}: sealed archive: give --identity`);
  });

  it("image build with --identity makes from a sealed archive the very image the plain archive makes; without it, one line", () => {
    for (const archive of [plain, gzipped]) {
      const file = sealed(archive, `${archive.split("/").at(-1)}.img.age`, "a");
      const fromPlain = runCkpt(["image", "build", archive, `oci:${join(work, "img-plain")}:t`]);
      const fromSealed = runCkpt(["image", "build", file, `oci:${join(work, "img-sealed")}:t`, "-i", keys.a]);
      expect(fromPlain.status, fromPlain.stderr).toBe(0);
      expect(fromSealed.status, fromSealed.stderr).toBe(0);
      // The manifest digest covers the layer's digest and the annotations: the same bytes in the image.
      expect(fromSealed.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect(fromSealed.stdout).toBe(fromPlain.stdout);
      const without = runCkpt(["image", "build", file, `oci:${join(work, "img-none")}:t`]);
      expect(expectOneLineError(without, file)).toBe(`ckpt: ${file}: sealed archive: give --identity`);
    }
  });

  it.runIf(haveAge)("is the age format: the age CLI opens what ckpt seals, and ckpt what age encrypts", () => {
    const file = sealed(plain, "for-age.age", "b");
    const opened = execFileSync("age", ["-d", "-i", keys.b, file], { maxBuffer: 64 << 20 });
    expect(opened.equals(readFileSync(plain))).toBe(true);
    const theirs = join(work, "by-age.age");
    execFileSync("age", ["-r", recipients.a!, "-o", theirs, gzipped]);
    const out = join(work, "by-age.out");
    expect(unseal(theirs, keys.a, out).status).toBe(0);
    expect(readFileSync(out).equals(readFileSync(gzipped))).toBe(true);
    // And age refuses the byte ckpt refuses.
    const bad = flipped(file, Math.floor(readFileSync(file).length / 2), "for-age-flipped.age");
    expect(spawnSync("age", ["-d", "-i", keys.b, "-o", join(work, "age.out"), bad]).status).not.toBe(0);
  });

  it.runIf(haveAge)("sizes at chunk boundaries round-trip through both implementations", () => {
    const source = readFileSync(plain);
    for (const size of [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE]) {
      const input = join(work, `size-${size}`);
      writeFileSync(input, source.subarray(0, size));
      const file = sealed(input, `size-${size}.age`, "a");
      expect(execFileSync("age", ["-d", "-i", keys.a, file]).equals(source.subarray(0, size)), `size ${size}`).toBe(true);
      const out = join(work, `size-${size}.out`);
      expect(unseal(file, keys.a, out).status).toBe(0);
      expect(readFileSync(out).equals(source.subarray(0, size))).toBe(true);
    }
  });
});
