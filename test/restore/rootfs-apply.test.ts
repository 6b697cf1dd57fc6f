/**
 * Applying rootfs-diff.tar and deleted.files to a new container root: what a checkpoint changed comes
 * back, and a hostile diff writes nothing outside the root.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { applyRootfsDiff, RestoreFilesError, safeComponents } from "../../src/restore/rootfs-apply.js";

const tar = createRequire(import.meta.url)("tar-stream") as typeof import("tar-stream");
const work = mkdtempSync(join(tmpdir(), "ckpt-rootfs-apply-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Entry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "fifo";
  content?: string;
  mode?: number;
  uid?: number;
  linkname?: string;
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const type = e.type ?? "file";
    const header = { name: e.name, type, mode: e.mode ?? (type === "directory" ? 0o755 : 0o644), uid: e.uid ?? 0, gid: 0, mtime: new Date("2026-01-01T00:00:00Z"), linkname: e.linkname };
    await new Promise<void>((resolve, reject) => pack.entry(header, type === "file" ? Buffer.from(e.content ?? "") : undefined, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

let n = 0;
/** A container root with an image's files, and a directory beside it that must stay untouched. */
function freshRoot(): { root: string; outside: string } {
  const base = join(work, `case-${n++}`);
  const root = join(base, "rootfs");
  const outside = join(base, "outside");
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "usr/share/app"), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(root, "etc/motd"), "image motd\n");
  writeFileSync(join(root, "usr/share/app/a"), "a\n");
  writeFileSync(join(root, "usr/share/app/b"), "b\n");
  writeFileSync(join(outside, "keep"), "keep\n");
  symlinkSync(outside, join(root, "escape"));
  symlinkSync(join(outside, "keep"), join(root, "linkfile"));
  return { root, outside };
}

const outsideUntouched = (outside: string) => {
  expect(readdirSync(outside)).toEqual(["keep"]);
  expect(readFileSync(join(outside, "keep"), "utf8")).toBe("keep\n");
};

describe("applyRootfsDiff", () => {
  it("writes files and directories with their modes and owners, then deletes deleted.files", async () => {
    const { root, outside } = freshRoot();
    const diff = await tarOf([
      { name: "home/", type: "directory" },
      { name: "home/counter/", type: "directory", mode: 0o750 },
      { name: "home/counter/logfile", content: "count 1\ncount 2\n", mode: 0o640, uid: 1000 },
      { name: "./etc/motd", content: "changed\n" },
      { name: "usr/local/bin/tool", content: "#!/bin/sh\n", mode: 0o755 },
    ]);
    const r = await applyRootfsDiff(root, Readable.from([diff]), ["/usr/share/app/a", "/etc/not-there"]);
    expect(r).toEqual({ files: 3, directories: 2, deleted: ["/usr/share/app/a"] });
    expect(readFileSync(join(root, "home/counter/logfile"), "utf8")).toBe("count 1\ncount 2\n");
    expect(statSync(join(root, "home/counter/logfile")).mode & 0o7777).toBe(0o640);
    expect(statSync(join(root, "home/counter/logfile")).uid).toBe(1000);
    expect(statSync(join(root, "home/counter")).mode & 0o7777).toBe(0o750);
    expect(readFileSync(join(root, "etc/motd"), "utf8")).toBe("changed\n");
    expect(statSync(join(root, "usr/local/bin/tool")).mode & 0o777).toBe(0o755);
    expect(existsSync(join(root, "usr/share/app/a"))).toBe(false);
    expect(existsSync(join(root, "usr/share/app/b"))).toBe(true);
    outsideUntouched(outside);
  });

  it("applies containerd's gzip layer: files, whiteouts and an opaque directory", async () => {
    const { root, outside } = freshRoot();
    const layer = gzipSync(
      await tarOf([
        { name: "etc/.wh.motd" },
        { name: "usr/share/app/.wh..wh..opq" },
        { name: "usr/share/app/new", content: "new\n" },
        { name: "tmp/", type: "directory" },
        { name: "tmp/test-file", content: "test-file\n" },
      ]),
    );
    const r = await applyRootfsDiff(root, Readable.from([layer]));
    expect(r.deleted).toEqual(["/etc/motd"]);
    expect(existsSync(join(root, "etc/motd"))).toBe(false);
    expect(readdirSync(join(root, "usr/share/app"))).toEqual(["new"]);
    expect(readFileSync(join(root, "tmp/test-file"), "utf8")).toBe("test-file\n");
    outsideUntouched(outside);
  });

  const hostile: Array<[string, Entry[], RegExp]> = [
    ["a '..' name", [{ name: "../outside/evil", content: "x" }], /has a '\.\.' component/],
    ["an absolute name", [{ name: "/etc/evil", content: "x" }], /is absolute/],
    ["a file written through a symlinked directory", [{ name: "escape/evil", content: "x" }], /would go through the symbolic link \/escape/],
    ["a file written over a symlink", [{ name: "linkfile", content: "pwned\n" }], /is a symbolic link in the image/],
    ["a symbolic link entry", [{ name: "etc/shadow", type: "symlink", linkname: "/etc/shadow" }], /a symlink entry; only regular files and directories/],
    ["a hard link entry", [{ name: "etc/hard", type: "link", linkname: "etc/motd" }], /a link entry/],
    ["a device node", [{ name: "dev-null", type: "character-device" }], /a character-device entry/],
    ["a whiteout reaching out", [{ name: "escape/.wh.keep" }], /would go through \/escape, which is not a directory/],
    ["a directory entry at a symlink", [{ name: "escape/", type: "directory" }], /is a symbolic link in the image/],
  ];

  it.each(hostile)("refuses %s, naming the entry, and writes nothing outside the root", async (_what, entries, why) => {
    const { root, outside } = freshRoot();
    const err = await applyRootfsDiff(root, Readable.from([await tarOf(entries)])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreFilesError);
    expect((err as Error).message).toMatch(/^rootfs-diff\.tar: entry "/);
    expect((err as Error).message).toMatch(why);
    outsideUntouched(outside);
    expect(lstatSync(join(root, "escape")).isSymbolicLink()).toBe(true);
  });

  it.each([
    ["/../outside/keep", /has a '\.\.' component/],
    ["/escape/keep", /would go through \/escape, which is not a directory/],
  ])("refuses deleted.files entry %s and deletes nothing outside", async (path, why) => {
    const { root, outside } = freshRoot();
    await expect(applyRootfsDiff(root, undefined, [path])).rejects.toThrow(why);
    outsideUntouched(outside);
  });

  it("removes a symlink named in deleted.files, not what it points to", async () => {
    const { root, outside } = freshRoot();
    const r = await applyRootfsDiff(root, undefined, ["/escape"]);
    expect(r.deleted).toEqual(["/escape"]);
    expect(existsSync(join(root, "escape"))).toBe(false);
    outsideUntouched(outside);
  });
});

describe("safeComponents", () => {
  it("splits relative names and refuses the rest", () => {
    expect(safeComponents("./a//b/./c")).toEqual(["a", "b", "c"]);
    expect(safeComponents("a/../b")).toBe("has a '..' component");
    expect(safeComponents("/a")).toBe("is absolute");
    expect(safeComponents("./")).toBe("names the root itself");
    expect(safeComponents("a\0b")).toBe("has a NUL byte");
  });
});
