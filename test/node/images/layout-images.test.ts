/**
 * The image store on OCI image layouts on disk: what ensure() resolves, checked against umoci and
 * skopeo reading the same layout; tag choice, multi-platform indexes, compressions, pull policies and
 * references that cannot work.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ImageError, ImageNotPresentError, ImageStore } from "../../../src/node/images/index.js";
import { BUSYBOX, BUSYBOX_APPLETS, BUSYBOX_ENV_PATH, buildBusyboxLayout, FIXED_MTIME, writeOciImage } from "../../support/oci-images.js";
import { comparable, tree } from "./fs-tree.js";

const work = mkdtempSync(join(tmpdir(), "ckpt-images-layout-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = (what: string) => join(work, `${what}-${++n}`);

describe("an OCI layout on disk", () => {
  it("resolves to the config digest, the manifest digest, the run defaults and one unpacked layer", async () => {
    const image = await buildBusyboxLayout(fresh("layout"), { tag: "1.36" });
    const store = new ImageStore(fresh("store"));
    const resolved = await store.ensure(image.reference);
    expect(resolved).toEqual({
      reference: image.reference,
      name: `oci:${image.layout}:1.36`,
      imageId: image.configDigest,
      repoDigest: `oci:${image.layout}@${image.manifestDigest}`,
      layers: [join(store.root, "layers", "sha256", image.layers[0]!.diffId.slice("sha256:".length))],
      process: { entrypoint: [], cmd: ["sh"], env: [BUSYBOX_ENV_PATH], workingDir: "/", user: "" },
    });
    const layer = resolved.layers[0]!;
    const byPath = new Map(tree(layer).map((e) => [e.path, e]));
    expect(byPath.get("bin/busybox")).toMatchObject({ type: "file", mode: "755", uid: 0, gid: 0, size: readFileSync(BUSYBOX).length, mtime: FIXED_MTIME.getTime() });
    expect(readFileSync(join(layer, "bin/busybox")).equals(readFileSync(BUSYBOX))).toBe(true);
    for (const applet of BUSYBOX_APPLETS) expect(byPath.get(`bin/${applet}`)).toMatchObject({ type: "symlink", link: "busybox" });
    expect(byPath.get("tmp")).toMatchObject({ type: "dir", mode: "1777", mtime: FIXED_MTIME.getTime() });
    expect(byPath.get("root")).toMatchObject({ type: "dir", mode: "700" });
    expect(byPath.get(".")).toMatchObject({ type: "dir", mode: "755", mtime: FIXED_MTIME.getTime() });
    expect(readFileSync(join(layer, "etc/passwd"), "utf8")).toMatch(/^root:x:0:0:/);
    // Nothing half-done is left behind, and the store lists what it has.
    expect(readdirSync(join(store.root, "tmp"))).toEqual([]);
    expect((await store.list()).map((i) => i.name)).toEqual([resolved.name]);
    expect(await store.get(image.reference)).toEqual(resolved);
  });

  it("agrees with umoci unpack on the files and the process, and with skopeo inspect on the digests", async () => {
    const image = await buildBusyboxLayout(fresh("layout"));
    const resolved = await new ImageStore(fresh("store")).ensure(image.reference);
    const bundle = fresh("umoci-bundle");
    const umoci = spawnSync("umoci", ["unpack", "--image", `${image.layout}:latest`, bundle], { encoding: "utf8" });
    expect(umoci.stderr).toBe("");
    expect(umoci.status).toBe(0);
    // umoci names its mtree file after the manifest digest it unpacked.
    expect(readdirSync(bundle)).toContain(`sha256_${image.manifestDigest.slice("sha256:".length)}.mtree`);
    expect(comparable(tree(resolved.layers[0]!))).toEqual(comparable(tree(join(bundle, "rootfs"))));
    const runtimeSpec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as { process: { args: string[]; env: string[]; cwd: string } };
    expect(runtimeSpec.process.args).toEqual([...resolved.process.entrypoint, ...resolved.process.cmd]);
    expect(runtimeSpec.process.env).toContain(resolved.process.env[0]);
    expect(runtimeSpec.process.cwd).toBe(resolved.process.workingDir);

    const inspect = spawnSync("skopeo", ["inspect", `oci:${image.layout}:latest`], { encoding: "utf8" });
    expect(inspect.status).toBe(0);
    expect(`oci:${image.layout}@${(JSON.parse(inspect.stdout) as { Digest: string }).Digest}`).toBe(resolved.repoDigest);
    const raw = spawnSync("skopeo", ["inspect", "--raw", `oci:${image.layout}:latest`], { encoding: "utf8" });
    expect((JSON.parse(raw.stdout) as { config: { digest: string } }).config.digest).toBe(resolved.imageId);
  });

  it("picks the tag by ref.name annotation; without a tag the only image, else latest", async () => {
    const layout = fresh("layout");
    const latest = await writeOciImage(layout, { tag: "latest", layers: [{ entries: [{ path: "which", type: "file", content: "latest" }] }] });
    const v2 = await writeOciImage(layout, { tag: "v2", layers: [{ entries: [{ path: "which", type: "file", content: "v2" }] }], config: { Cmd: ["echo", "v2"] } });
    const store = new ImageStore(fresh("store"));
    const untagged = await store.ensure(`oci:${layout}`);
    expect(untagged.imageId).toBe(latest.configDigest);
    expect(untagged.name).toBe(`oci:${layout}`);
    const tagged = await store.ensure(`oci:${layout}:v2`);
    expect(tagged.imageId).toBe(v2.configDigest);
    expect(tagged.process.cmd).toEqual(["echo", "v2"]);
    expect(readFileSync(join(tagged.layers[0]!, "which"), "utf8")).toBe("v2");
    await expect(store.ensure(`oci:${layout}:v3`)).rejects.toThrow(`${layout}/index.json: no image tagged v3 (tags: "latest", "v2")`);

    const single = fresh("layout");
    const only = await writeOciImage(single, { tag: null, layers: [{ entries: [{ path: "f", type: "file", content: "x" }] }] });
    expect((await store.ensure(`oci:${single}`)).imageId).toBe(only.configDigest);
  });

  it("picks this node's platform (linux/amd64) from a multi-platform index", async () => {
    const image = await buildBusyboxLayout(fresh("layout"), { multiPlatform: true });
    const index = JSON.parse(readFileSync(join(image.layout, "blobs/sha256", image.digest.slice(7)), "utf8")) as { manifests: { platform: { architecture: string } }[] };
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(["arm64", "amd64"]);
    const store = new ImageStore(fresh("store"));
    const resolved = await store.ensure(image.reference);
    expect(resolved.imageId).toBe(image.configDigest);
    // The repo digest is the index's: pulling by it gives the same image on this platform again.
    expect(resolved.repoDigest).toBe(`oci:${image.layout}@${image.digest}`);
    await expect(new ImageStore(fresh("store"), { platform: { os: "linux", architecture: "s390x" } }).ensure(image.reference)).rejects.toThrow(
      "no image for linux/s390x in the index (it has linux/arm64/v8, linux/amd64)",
    );
  });

  it("unpacks gzip, zstd and uncompressed layers of the same tar to identical trees", async () => {
    const trees = [];
    for (const compression of ["gzip", "zstd", "none"] as const) {
      const image = await buildBusyboxLayout(fresh(`layout-${compression}`), { compression });
      const resolved = await new ImageStore(fresh("store")).ensure(image.reference);
      expect(resolved.layers).toHaveLength(1);
      trees.push(comparable(tree(resolved.layers[0]!)));
    }
    expect(trees[1]).toEqual(trees[0]);
    expect(trees[2]).toEqual(trees[0]);
  });

  it("follows the pull policy: Never needs the image in the store, IfNotPresent does not look at the source again, Always does", async () => {
    const image = await buildBusyboxLayout(fresh("layout"), { tag: "v1" });
    const store = new ImageStore(fresh("store"));
    const never = store.ensure(image.reference, { pullPolicy: "Never" });
    await expect(never).rejects.toThrow(ImageNotPresentError);
    await expect(never).rejects.toThrow(`image ${image.reference}: not in the image store ${store.root}, and pullPolicy is Never`);
    const first = await store.ensure(image.reference, { pullPolicy: "IfNotPresent" });
    rmSync(image.layout, { recursive: true });
    expect(await store.ensure(image.reference, { pullPolicy: "Never" })).toEqual(first);
    expect(await store.ensure(image.reference)).toEqual(first);
    await expect(store.ensure(image.reference, { pullPolicy: "Always" })).rejects.toThrow(`${image.layout}/oci-layout: missing (${image.layout} is not an OCI image layout)`);
    // A layer directory that disappeared makes the image absent again, not a broken rootfs.
    rmSync(first.layers[0]!, { recursive: true });
    await expect(store.ensure(image.reference, { pullPolicy: "Never" })).rejects.toThrow(ImageNotPresentError);
  });

  it("refuses references that cannot work, at once and by name", async () => {
    const store = new ImageStore(fresh("store"));
    await expect(store.ensure("busybox")).rejects.toThrow(/image reference "busybox": no registry host; this node has no default registry/);
    await expect(store.ensure("library/busybox:latest")).rejects.toThrow(/no registry host/);
    await expect(store.ensure("oci:relative/layout")).rejects.toThrow('image reference "oci:relative/layout": the layout path must be absolute');
    await expect(store.ensure("127.0.0.1:5000/Busybox")).rejects.toThrow('repository component "Busybox" is not valid');
    await expect(store.ensure("127.0.0.1:5000/busybox@sha256:abc")).rejects.toThrow('"sha256:abc" is not a sha256 digest');
    await expect(store.ensure(`oci:${fresh("nothing-here")}`)).rejects.toThrow(ImageError);
    expect(() => new ImageStore("/var/lib/a:b")).toThrow('":" and "," cannot appear in overlayfs lowerdir paths');
  });
});

describe("removing images", () => {
  it("drops the image's record, its own layers and blobs, and keeps what another image shares", async () => {
    const shared = { entries: [{ path: "shared", type: "file" as const, content: "both" }] };
    const a = await writeOciImage(fresh("layout"), { layers: [shared, { entries: [{ path: "only-a", type: "file", content: "a" }] }] });
    const b = await writeOciImage(fresh("layout"), { layers: [shared, { entries: [{ path: "only-b", type: "file", content: "b" }] }] });
    const store = new ImageStore(fresh("store"));
    const [ra, rb] = [await store.ensure(a.reference), await store.ensure(b.reference)];
    const blobs = () => readdirSync(join(store.root, "blobs", "sha256")).sort();
    const before = blobs();
    expect(await store.remove([ra.name, "oci:/nowhere:x"])).toEqual([ra.name]);
    expect((await store.list()).map((i) => i.name)).toEqual([rb.name]);
    expect(existsSync(ra.layers[0]!)).toBe(true);
    expect(existsSync(ra.layers[1]!)).toBe(false);
    expect(readFileSync(join(rb.layers[1]!, "only-b"), "utf8")).toBe("b");
    const removed = before.filter((d) => !blobs().includes(d)).map((d) => `sha256:${d}`);
    expect(removed.sort()).toEqual([a.manifestDigest, a.configDigest, a.layers[1]!.digest].sort());
    // Gone means gone: ensure() pulls it again.
    expect(await store.get(a.reference)).toBeUndefined();
    expect((await store.ensure(a.reference)).layers).toEqual(ra.layers);
  });
});
