/**
 * The archive containerd restores from, written from a CRI-O-layout checkpoint of the real runc
 * counter dump: base image pinned, status.dump added, the log renamed, and the files the container
 * deleted turned into whiteouts appended to rootfs-diff.tar (containerd has no deleted.files). The
 * same from a gzip'd and from a sealed archive, each read in one streaming pass.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import type { OpenOptions } from "../../src/checkpoint/archive/checkpoint-archive.js";
import { TarEntriesCutter } from "../../src/checkpoint/archive/tar-listing.js";
import { newIdentity } from "../../src/checkpoint/seal/file-key.js";
import { parseIdentityFile } from "../../src/checkpoint/seal/identity-file.js";
import { sealFile } from "../../src/checkpoint/seal/sealed-file.js";
import { writeContainerdRestoreArchive } from "../../src/node/cri/containerd-restore-archive.js";
import { archiveMember, buildArchive, readArchive, tarEntries } from "../support/archives.js";
import { FIXTURES, haveFixtures } from "../support/fixtures.js";

const COUNTER = join(FIXTURES, "runc-counter");

describe.skipIf(!haveFixtures())("containerd's restore layout", () => {
  let tmp: string;
  const spec = () => JSON.parse(readFileSync(join(COUNTER, "spec.json"), "utf8")) as object;

  const rewrite = async (source: string, out: string, open: OpenOptions = {}) => {
    const cp = await Checkpoint.open(source, open);
    try {
      await writeContainerdRestoreArchive(
        { checkpoint: cp, baseImageRef: "registry.test/busybox@sha256:" + "ab".repeat(32), baseImageName: "registry.test/busybox:1", containerName: "counter", annotations: { a: "b" } },
        out,
      );
    } finally {
      cp.close();
    }
    return out;
  };

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "ckpt-ctrd-archive-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("appends a whiteout per deleted file to rootfs-diff.tar, keeping its entries", async () => {
    const source = await buildArchive({
      layout: "crio",
      imagesDir: join(COUNTER, "checkpoint"),
      out: join(tmp, "crio.tar"),
      spec: spec(),
      rootfsDiff: join(COUNTER, "rootfs-diff.tar"),
      deletedFiles: ["/etc/motd", "/usr/share/doc/a b/", "/../escape"],
    });
    const out = await rewrite(source, join(tmp, "ctrd.tar"));
    const names = (await readArchive(out)).map((e) => e.name);
    expect(names).not.toContain("deleted.files");
    expect(names).toEqual(expect.arrayContaining(["config.dump", "status.dump", "spec.dump", "container.log", "rootfs-diff.tar"]));

    const original = tarEntries(readFileSync(join(COUNTER, "rootfs-diff.tar"))).map((e) => e.name);
    const diff = tarEntries(await archiveMember(out, "rootfs-diff.tar"));
    expect(diff.map((e) => e.name)).toEqual([...original, "etc/.wh.motd", "usr/share/doc/.wh.a b"]);
    for (const e of diff.slice(original.length)) expect(e.size).toBe(0n);
    // The original entries' data is untouched.
    const before = tarEntries(readFileSync(join(COUNTER, "rootfs-diff.tar")));
    for (const [i, e] of before.entries()) expect(diff[i]!.data?.equals(e.data ?? Buffer.alloc(0))).toBe(true);

    const config = JSON.parse((await archiveMember(out, "config.dump")).toString()) as Record<string, string>;
    expect(config.rootfsImageRef).toMatch(/^registry\.test\/busybox@sha256:/);
    const status = JSON.parse((await archiveMember(out, "status.dump")).toString()) as { metadata: { name: string }; annotations: Record<string, string> };
    expect(status.metadata.name).toBe("counter");
    expect(status.annotations.a).toBe("b");
  });

  it("writes the same members from a gzip'd and from a sealed archive (one streaming pass each) as from the plain tar", async () => {
    const deletedFiles = ["/etc/motd", "/usr/share/doc/a b/"];
    const build = (out: string, compression: "none" | "gzip") =>
      buildArchive({ layout: "crio", imagesDir: join(COUNTER, "checkpoint"), out: join(tmp, out), spec: spec(), rootfsDiff: join(COUNTER, "rootfs-diff.tar"), deletedFiles, compression });
    const plain = await build("same-plain.tar", "none");
    const gzipped = await build("same.tar.gz", "gzip");
    const { identity, recipient } = await newIdentity();
    const sealed = join(tmp, "same.tar.age");
    await sealFile(plain, sealed, [recipient]);
    const members = async (out: string) => new Map((await readArchive(out)).map((e) => [e.name, e.data?.toString("base64")]));
    const expected = await members(await rewrite(plain, join(tmp, "same-from-plain.tar")));
    expect(tarEntries(Buffer.from(expected.get("rootfs-diff.tar")!, "base64")).map((e) => e.name).slice(-2)).toEqual(["etc/.wh.motd", "usr/share/doc/.wh.a b"]);
    expect(await members(await rewrite(gzipped, join(tmp, "same-from-gzip.tar")))).toEqual(expected);
    const open: OpenOptions = { identities: () => parseIdentityFile(identity, "key") };
    expect(await members(await rewrite(sealed, join(tmp, "same-from-sealed.tar"), open))).toEqual(expected);
  });

  it("cuts a tar's end-of-archive blocks however its bytes are split into chunks", () => {
    const tar = readFileSync(join(COUNTER, "rootfs-diff.tar"));
    const whole = new TarEntriesCutter(tar.length, "rootfs-diff.tar");
    const entries = Buffer.concat(whole.feed(tar));
    expect(entries.length).toBe(whole.end());
    expect(tarEntries(Buffer.concat([entries, Buffer.alloc(1024)])).map((e) => e.name)).toEqual(tarEntries(tar).map((e) => e.name));
    expect(tar.subarray(whole.end()).every((b) => b === 0)).toBe(true);
    for (const size of [1, 7, 511, 512, 513, 4096]) {
      const cutter = new TarEntriesCutter(tar.length, "rootfs-diff.tar");
      const out: Uint8Array[] = [];
      for (let at = 0; at < tar.length; at += size) out.push(...cutter.feed(tar.subarray(at, at + size)));
      expect(Buffer.concat(out).equals(entries), `chunks of ${size}`).toBe(true);
      expect(cutter.end()).toBe(whole.end());
    }
    expect(() => new TarEntriesCutter(tar.length, "rootfs-diff.tar").feed(Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), tar.subarray(4, 512)]))).toThrow(/rootfs-diff\.tar: a compressed tar/);
  });

  it("makes a rootfs-diff.tar of whiteouts alone when the container only deleted files", async () => {
    const source = await buildArchive({ layout: "crio", imagesDir: join(COUNTER, "checkpoint"), out: join(tmp, "crio-del.tar"), spec: spec(), deletedFiles: ["/etc/motd"] });
    const out = await rewrite(source, join(tmp, "ctrd-del.tar"));
    expect(tarEntries(await archiveMember(out, "rootfs-diff.tar")).map((e) => e.name)).toEqual(["etc/.wh.motd"]);
  });

  it("leaves rootfs-diff.tar as it is when nothing was deleted", async () => {
    const source = await buildArchive({ layout: "crio", imagesDir: join(COUNTER, "checkpoint"), out: join(tmp, "crio-nodel.tar"), spec: spec(), rootfsDiff: join(COUNTER, "rootfs-diff.tar") });
    const out = await rewrite(source, join(tmp, "ctrd-nodel.tar"));
    expect((await archiveMember(out, "rootfs-diff.tar")).equals(readFileSync(join(COUNTER, "rootfs-diff.tar")))).toBe(true);
  });
});
