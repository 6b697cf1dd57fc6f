/**
 * Layers as overlayfs lower directories: whiteouts and opaque directories checked by mounting a real
 * overlay (root) and against umoci's unpacking of the same image; metadata, hard links and FIFOs; and
 * hostile or damaged layers, which must fail with one error naming the blob and the entry and leave
 * nothing behind, inside the store or outside it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BlobVerificationError, ImageStore, LayerError } from "../../../src/node/images/index.js";
import { buildBusyboxLayout, FIXED_MTIME, type LayerEntry, writeOciImage } from "../../support/oci-images.js";
import { comparable, opaqueXattr, tree } from "./fs-tree.js";

const work = mkdtempSync(join(tmpdir(), "ckpt-images-layers-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = (what: string) => join(work, `${what}-${++n}`);
const isRoot = process.getuid?.() === 0;

describe("whiteouts", () => {
  it.runIf(isRoot)("become overlay whiteouts and opaque directories that a real overlay mount honours, as umoci's unpacking does", async () => {
    const image = await buildBusyboxLayout(fresh("layout"), { whiteouts: true });
    const resolved = await new ImageStore(fresh("store")).ensure(image.reference);
    expect(resolved.layers).toHaveLength(2);
    const [lower, upper] = resolved.layers as [string, string];
    const motd = lstatSync(join(upper, "etc/motd"));
    expect(motd.isCharacterDevice() && motd.rdev === 0).toBe(true);
    expect(existsSync(join(upper, "etc/.wh.motd"))).toBe(false);
    expect(opaqueXattr(join(upper, "usr/share/ckpt"))).toBe("y");
    expect(opaqueXattr(join(upper, "usr/share"))).toBeUndefined();
    expect(readdirSync(join(upper, "usr/share/ckpt"))).toEqual(["new"]);
    // The lower layer still has what the upper one hides.
    expect(readdirSync(join(lower, "usr/share/ckpt")).sort()).toEqual(["old-a", "old-b"]);

    const mnt = fresh("overlay");
    const [rw, workdir, merged] = ["upper", "work", "merged"].map((d) => join(mnt, d)) as [string, string, string];
    for (const d of [rw, workdir, merged]) mkdirSync(d, { recursive: true });
    // overlayfs lists lower directories top first.
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${upper}:${lower},upperdir=${rw},workdir=${workdir}`, merged]);
    try {
      expect(existsSync(join(merged, "etc/motd"))).toBe(false);
      expect(readdirSync(join(merged, "etc")).sort()).toEqual(["group", "hostname", "passwd"]);
      expect(readdirSync(join(merged, "usr/share/ckpt"))).toEqual(["new"]);
      expect(readFileSync(join(merged, "bin/busybox")).length).toBeGreaterThan(0);

      const bundle = fresh("umoci");
      const umoci = spawnSync("umoci", ["unpack", "--image", `${image.layout}:latest`, bundle], { encoding: "utf8" });
      expect(umoci.status).toBe(0);
      // The root and directories whose entries changed get their times from whoever wrote last;
      // everything else, including every file, must be the same.
      expect(comparable(tree(merged, { mtimes: "non-dirs" }))).toEqual(comparable(tree(join(bundle, "rootfs"), { mtimes: "non-dirs" })));
    } finally {
      execFileSync("umount", [merged]);
    }
  });

  it.runIf(isRoot)("give a rootfs that runc runs the image's busybox in, with the deleted file gone", async () => {
    const image = await buildBusyboxLayout(fresh("layout"), { whiteouts: true });
    const resolved = await new ImageStore(fresh("store")).ensure(image.reference);
    const bundle = fresh("bundle");
    const [rw, workdir, rootfs, state] = ["upper", "work", "rootfs", "runc-state"].map((d) => join(bundle, d)) as [string, string, string, string];
    for (const d of [rw, workdir, rootfs, state]) mkdirSync(d, { recursive: true });
    execFileSync("runc", ["spec", "--bundle", bundle]);
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as { process: Record<string, unknown>; root: Record<string, unknown> };
    spec.process.terminal = false;
    spec.process.args = [...resolved.process.cmd, "-c", "cat /etc/hostname; ls /usr/share/ckpt; test -e /etc/motd || echo motd-gone"];
    spec.process.env = resolved.process.env;
    spec.process.cwd = resolved.process.workingDir;
    spec.root = { path: "rootfs", readonly: true };
    writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
    execFileSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${[...resolved.layers].reverse().join(":")},upperdir=${rw},workdir=${workdir}`, rootfs]);
    try {
      const run = spawnSync("runc", ["--root", state, "run", "--bundle", bundle, `ckpt-images-${process.pid}`], { encoding: "utf8" });
      expect(run.stderr).toBe("");
      expect(run.stdout).toBe("ckpt\nnew\nmotd-gone\n");
      expect(run.status).toBe(0);
    } finally {
      execFileSync("umount", [rootfs]);
    }
  });

  it("an entry of the same layer wins over its whiteout", async () => {
    const image = await writeOciImage(fresh("layout"), {
      layers: [
        {
          entries: [
            { path: ".wh.kept", type: "file" },
            { path: "kept", type: "file", content: "stays" },
            { path: "gone-before", type: "file", content: "x" },
            { path: ".wh.gone-before", type: "file" },
            { path: "dir/.wh..wh..opq", type: "file" },
            { path: "dir/", type: "directory", mode: 0o750 },
          ],
        },
      ],
    });
    const [layer] = (await new ImageStore(fresh("store")).ensure(image.reference)).layers as [string];
    expect(readFileSync(join(layer, "kept"), "utf8")).toBe("stays");
    // Whiteouts hide lower layers only: a file of this layer stays, whatever the order.
    expect(lstatSync(join(layer, "gone-before")).isFile()).toBe(true);
    expect(opaqueXattr(join(layer, "dir"))).toBe("y");
    expect(lstatSync(join(layer, "dir")).mode & 0o7777).toBe(0o750);
  });
});

describe("layer metadata", () => {
  it("keeps modes with setuid and sticky bits, owners, mtimes, symlinks, hard links and FIFOs", async () => {
    const t1 = new Date("2020-02-02T02:02:02Z");
    const image = await writeOciImage(fresh("layout"), {
      layers: [
        {
          entries: [
            { path: "srv/", type: "directory", mode: 0o2750, uid: 33, gid: 34, mtime: t1 },
            { path: "srv/suid", type: "file", mode: 0o4755, uid: 1000, gid: 1001, content: "#!/bin/sh\n", mtime: t1 },
            { path: "srv/hard", type: "link", linkname: "srv/suid" },
            { path: "srv/link", type: "symlink", linkname: "/etc/shadow", uid: 5, gid: 6, mtime: t1 },
            { path: "srv/fifo", type: "fifo", mode: 0o640, uid: 7, gid: 8, mtime: t1 },
            { path: "implicit/parent/file", type: "file", content: "p" },
          ],
        },
      ],
    });
    const [layer] = (await new ImageStore(fresh("store")).ensure(image.reference)).layers as [string];
    const byPath = new Map(tree(layer).map((e) => [e.path, e]));
    expect(byPath.get("srv")).toMatchObject({ type: "dir", mode: "2750", uid: 33, gid: 34, mtime: t1.getTime() });
    expect(byPath.get("srv/suid")).toMatchObject({ type: "file", mode: "4755", uid: 1000, gid: 1001, mtime: t1.getTime(), nlink: 2 });
    expect(byPath.get("srv/hard")!.ino).toBe(byPath.get("srv/suid")!.ino);
    expect(byPath.get("srv/link")).toMatchObject({ type: "symlink", link: "/etc/shadow", uid: 5, gid: 6, mtime: t1.getTime() });
    expect(byPath.get("srv/fifo")).toMatchObject({ type: "fifo", mode: "640", uid: 7, gid: 8, mtime: t1.getTime() });
    // Parents the tar does not list are plain 0755 root directories.
    expect(byPath.get("implicit")).toMatchObject({ type: "dir", mode: "755", uid: 0, gid: 0 });
    // Without a "./" entry the layer root is 0755 too, never the temp directory's 0700.
    expect(byPath.get(".")).toMatchObject({ type: "dir", mode: "755" });
    expect(byPath.get("implicit/parent/file")).toMatchObject({ mtime: FIXED_MTIME.getTime() });
  });

  it("lets a later entry replace an earlier one, and a directory over a directory keep its contents", async () => {
    const image = await writeOciImage(fresh("layout"), {
      layers: [
        {
          entries: [
            { path: "a", type: "file", content: "first" },
            { path: "a", type: "symlink", linkname: "elsewhere" },
            { path: "d/", type: "directory" },
            { path: "d/x", type: "file", content: "x" },
            { path: "d/", type: "directory", mode: 0o700 },
            { path: "e/", type: "directory" },
            { path: "e/y", type: "file", content: "y" },
            { path: "e", type: "file", content: "now a file" },
          ],
        },
      ],
    });
    const [layer] = (await new ImageStore(fresh("store")).ensure(image.reference)).layers as [string];
    const byPath = new Map(tree(layer).map((e) => [e.path, e]));
    expect(byPath.get("a")).toMatchObject({ type: "symlink", link: "elsewhere" });
    expect(byPath.get("d")).toMatchObject({ type: "dir", mode: "700" });
    expect(byPath.get("d/x")).toMatchObject({ type: "file" });
    expect(byPath.get("e")).toMatchObject({ type: "file", size: 10 });
    expect(byPath.has("e/y")).toBe(false);
  });
});

describe("hostile and damaged layers", () => {
  /**
   * A store in a directory of its own, beside a directory `outside` that hostile entries aim at.
   * After a failed ensure, neither may have changed, and the store holds no layer and no temp file.
   */
  async function expectRefused(entries: LayerEntry[], message: string | RegExp, entryName: string) {
    const sandbox = fresh("sandbox");
    const outside = join(sandbox, "outside");
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "passwd"), "untouched");
    const image = await writeOciImage(join(sandbox, "layout"), { layers: [{ entries: [{ path: "ok", type: "file", content: "fine" }, ...entries] }] });
    const store = new ImageStore(join(sandbox, "store"));
    const err = await store.ensure(image.reference).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LayerError);
    const layerError = err as LayerError;
    expect(layerError.digest).toBe(image.layers[0]!.digest);
    expect(layerError.entry).toBe(entryName);
    expect(layerError.message).toMatch(message);
    expect(layerError.message.startsWith(`layer ${image.layers[0]!.digest}, entry ${JSON.stringify(entryName)}: `)).toBe(true);
    expect(readdirSync(sandbox).sort()).toEqual(["layout", "outside", "store"]);
    expect(readdirSync(outside)).toEqual(["passwd"]);
    expect(readFileSync(join(outside, "passwd"), "utf8")).toBe("untouched");
    expect(readdirSync(join(store.root, "layers", "sha256"))).toEqual([]);
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
    expect(readdirSync(store.root).sort()).toEqual(["blobs", "images", "layers", "tmp"]);
    expect(readdirSync(join(store.root, "images"))).toEqual([]);
    return { sandbox, outside };
  }

  it("refuses .. in a name", async () => {
    await expectRefused([{ path: "../outside/passwd", type: "file", content: "pwned" }], '".." in the name refused', "../outside/passwd");
    await expectRefused([{ path: "a/../../x", type: "file", content: "pwned" }], '".." in the name refused', "a/../../x");
  });

  it("refuses absolute names", async () => {
    const sandbox = join(work, `sandbox-${n + 1}`);
    await expectRefused([{ path: `${sandbox}/outside/passwd`, type: "file", content: "pwned" }], "absolute name refused", `${sandbox}/outside/passwd`);
  });

  it("never writes through a symlink the layer made, wherever it points", async () => {
    const sandbox = join(work, `sandbox-${n + 1}`);
    await expectRefused(
      [
        { path: "escape", type: "symlink", linkname: `${sandbox}/outside` },
        { path: "escape/passwd", type: "file", content: "pwned" },
      ],
      'its parent "escape" is a symlink; writing through it is refused',
      "escape/passwd",
    );
    await expectRefused(
      [
        { path: "up", type: "symlink", linkname: "../../../outside" },
        { path: "up/new", type: "directory" },
      ],
      'its parent "up" is a symlink',
      "up/new",
    );
    // The same through a symlink that replaced a directory, and through a hard link to a symlink.
    await expectRefused(
      [
        { path: "d/", type: "directory" },
        { path: "d", type: "symlink", linkname: "/" },
        { path: "d/etc/passwd", type: "file", content: "pwned" },
      ],
      'its parent "d" is a symlink',
      "d/etc/passwd",
    );
    await expectRefused(
      [
        { path: "s", type: "symlink", linkname: "/" },
        { path: "h", type: "link", linkname: "s" },
        { path: "h/x", type: "file", content: "pwned" },
      ],
      'its parent "h" is a symlink',
      "h/x",
    );
    await expectRefused(
      [
        { path: "s", type: "symlink", linkname: `${sandbox}/outside` },
        { path: "h", type: "link", linkname: "s/passwd" },
      ],
      'hard link target: "s" is not a directory of this layer (a symlink)',
      "h",
    );
  });

  it("drops whiteouts, opaque markers and FIFOs under a path a later entry replaces with a symlink", async () => {
    const sandbox = fresh("sandbox");
    const outside = join(sandbox, "outside");
    mkdirSync(join(outside, "sub"), { recursive: true });
    const image = await writeOciImage(join(sandbox, "layout"), {
      layers: [
        {
          entries: [
            { path: "a/.wh.victim", type: "file" },
            { path: "a/sub/.wh..wh..opq", type: "file" },
            { path: "a/fifo", type: "fifo" },
            { path: "a", type: "symlink", linkname: outside },
          ],
        },
      ],
    });
    const [layer] = (await new ImageStore(join(sandbox, "store")).ensure(image.reference)).layers as [string];
    expect(tree(layer).map((e) => `${e.path} ${e.type}`)).toEqual([". dir", "a symlink"]);
    expect(readdirSync(outside)).toEqual(["sub"]);
    expect(opaqueXattr(join(outside, "sub"))).toBeUndefined();
  });

  it("refuses hard links out of the layer", async () => {
    await expectRefused([{ path: "h", type: "link", linkname: "/etc/passwd" }], "absolute hard link target refused", "h");
    await expectRefused([{ path: "h", type: "link", linkname: "../outside/passwd" }], '".." in the hard link target refused', "h");
    await expectRefused([{ path: "h", type: "link", linkname: "not-there" }], 'hard link target "not-there" is not an earlier entry of this layer', "h");
  });

  it("refuses device nodes other than whiteouts", async () => {
    await expectRefused([{ path: "dev/null", type: "character-device", devmajor: 1, devminor: 3 }], "device node (character 1:3) refused", "dev/null");
    await expectRefused([{ path: "dev/sda", type: "block-device", devmajor: 8, devminor: 0 }], "device node (block 8:0) refused", "dev/sda");
  });

  it("stops at the size cap", async () => {
    const sandbox = fresh("sandbox");
    const image = await writeOciImage(join(sandbox, "layout"), { layers: [{ entries: [{ path: "big", type: "file", content: Buffer.alloc(1 << 20) }] }] });
    const store = new ImageStore(join(sandbox, "store"), { layerLimits: { maxBytes: 1 << 19 } });
    await expect(store.ensure(image.reference)).rejects.toThrow(`layer ${image.layers[0]!.digest}, entry "big": the layer unpacks to more than 524288 bytes`);
    expect(readdirSync(join(store.root, "layers", "sha256"))).toEqual([]);
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
  });

  it("refuses a blob whose bytes do not match its digest, or that is truncated, before unpacking anything", async () => {
    for (const damage of ["flip", "truncate"] as const) {
      const sandbox = fresh("sandbox");
      const image = await buildBusyboxLayout(join(sandbox, "layout"));
      const { digest, size } = image.layers[0]!;
      const blob = join(image.layout, "blobs/sha256", digest.slice(7));
      if (damage === "flip") {
        const bytes = readFileSync(blob);
        bytes[bytes.length >> 1] ^= 0xff;
        writeFileSync(blob, bytes);
      } else {
        truncateSync(blob, size - 1000);
      }
      const store = new ImageStore(join(sandbox, "store"));
      const err = await store.ensure(image.reference).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BlobVerificationError);
      expect((err as BlobVerificationError).digest).toBe(digest);
      expect((err as Error).message).toMatch(
        damage === "flip" ? `blob ${digest} from ${blob}: digest mismatch, the bytes hash to sha256:` : `blob ${digest} from ${blob}: truncated, ${size - 1000} of ${size} bytes`,
      );
      expect(existsSync(join(store.root, "blobs/sha256", digest.slice(7)))).toBe(false);
      expect(readdirSync(join(store.root, "layers", "sha256"))).toEqual([]);
      expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
    }
  });

  it("refuses a layer whose tar is not the diffID the config gives", async () => {
    const sandbox = fresh("sandbox");
    const image = await writeOciImage(join(sandbox, "layout"), { layers: [{ entries: [{ path: "a", type: "file", content: "a" }] }] });
    // Rewrite the config with another diffID, and the manifest and index.json to match.
    const blobs = join(image.layout, "blobs/sha256");
    const configPath = join(blobs, image.configDigest.slice(7));
    const config = JSON.parse(readFileSync(configPath, "utf8")) as { rootfs: { diff_ids: string[] } };
    config.rootfs.diff_ids = [`sha256:${"0".repeat(64)}`];
    const { sha256 } = await import("../../support/oci-images.js");
    const configBytes = Buffer.from(JSON.stringify(config));
    writeFileSync(join(blobs, sha256(configBytes).slice(7)), configBytes);
    const manifest = JSON.parse(readFileSync(join(blobs, image.manifestDigest.slice(7)), "utf8")) as { config: { digest: string; size: number } };
    manifest.config = { ...manifest.config, digest: sha256(configBytes), size: configBytes.length };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    writeFileSync(join(blobs, sha256(manifestBytes).slice(7)), manifestBytes);
    const index = JSON.parse(readFileSync(join(image.layout, "index.json"), "utf8")) as { manifests: { digest: string; size: number }[] };
    index.manifests[0] = { ...index.manifests[0]!, digest: sha256(manifestBytes), size: manifestBytes.length };
    writeFileSync(join(image.layout, "index.json"), JSON.stringify(index));
    const store = new ImageStore(join(sandbox, "store"));
    await expect(store.ensure(image.reference)).rejects.toThrow(
      `layer ${image.layers[0]!.digest}: the uncompressed tar hashes to ${image.layers[0]!.diffId}, but the image config gives diffID sha256:${"0".repeat(64)}`,
    );
    expect(readdirSync(join(store.root, "layers", "sha256"))).toEqual([]);
  });

  it("refuses a blob that is not a tar, naming the layer", async () => {
    const sandbox = fresh("sandbox");
    const image = await writeOciImage(join(sandbox, "layout"), { layers: [{ entries: [{ path: "a", type: "file", content: "a" }] }] });
    // A valid blob (its digest matches) whose content is garbage: the layout is rewritten around it.
    const { sha256 } = await import("../../support/oci-images.js");
    const garbage = Buffer.from("this is not a tar archive, not even close ".repeat(40));
    const blobs = join(image.layout, "blobs/sha256");
    writeFileSync(join(blobs, sha256(garbage).slice(7)), garbage);
    const manifestPath = join(blobs, image.manifestDigest.slice(7));
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { layers: { digest: string; size: number; mediaType: string }[] };
    manifest.layers[0] = { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(garbage), size: garbage.length };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    writeFileSync(join(blobs, sha256(manifestBytes).slice(7)), manifestBytes);
    const index = JSON.parse(readFileSync(join(image.layout, "index.json"), "utf8")) as { manifests: { digest: string; size: number }[] };
    index.manifests[0] = { ...index.manifests[0]!, digest: sha256(manifestBytes), size: manifestBytes.length };
    writeFileSync(join(image.layout, "index.json"), JSON.stringify(index));
    const store = new ImageStore(join(sandbox, "store"));
    await expect(store.ensure(image.reference)).rejects.toThrow(new RegExp(`^layer ${sha256(garbage)}: not a valid tar: `));
    expect(readdirSync(join(store.root, "layers", "sha256"))).toEqual([]);
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
  });
});
