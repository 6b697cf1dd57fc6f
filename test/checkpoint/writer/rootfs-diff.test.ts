/**
 * rootfsDiff on real overlayfs upper directories (mounted here as root): changes made through the
 * merged directory, then the exact member list, deletion list and tar content; GNU tar reads the
 * result back into the same files. Also: opaque directories, metacopy files, renamed directories,
 * excluded mount points, symlinks never followed, and what changes without the lower layers.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { excludeMatcher, rootfsDiff, rootfsDiffExcludes, type RootfsDiffResult } from "../../../src/checkpoint/writer/index.js";
import { findXattrTool, parseGetfattrDump, readOverlayXattrs } from "../../../src/checkpoint/writer/overlay-xattrs.js";
import { readArchive, type TarEntry } from "../../support/archives.js";
import { canMountOverlay, getXattr, inMerged, mountOverlay, type Overlay } from "./overlay-helpers.js";

const out = mkdtempSync(join(tmpdir(), "ckpt-diff-out-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const byName = (entries: TarEntry[]) => new Map(entries.map((e) => [e.name, e]));

describe("exclusions and getfattr output (pure)", () => {
  it("an excluded path takes everything beneath it, and nothing beside it", () => {
    const ex = excludeMatcher(["/run/secrets", "/etc/hostname", "/dev/"]);
    expect(["run/secrets", "run/secrets/token", "etc/hostname", "dev", "dev/null"].filter(ex)).toHaveLength(5);
    expect(["run", "run/secrets2", "etc/hostname.bak", "etc", "device"].some(ex)).toBe(false);
    expect(() => excludeMatcher(["run"])).toThrow(/not an absolute container path/);
    expect(["a", "b/c"].every(excludeMatcher(["/"]))).toBe(true);
  });

  it("rootfsDiffExcludes: every mount of the spec plus CRI-O's container mounts, but not /run", () => {
    const spec = {
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/etc/hostname", type: "bind", source: "/var/run/x/hostname" },
        { destination: "/data/", type: "bind", source: "/srv/data" },
      ],
    };
    expect(rootfsDiffExcludes(spec).sort()).toEqual(["/data", "/dev", "/dev/shm", "/etc/hostname", "/proc", "/run/.containerenv", "/run/secrets", "/sys"]);
  });

  it("parses getfattr -d -e hex dumps, quoted names and empty values included", () => {
    const text = [
      "# file: /u/data",
      "trusted.overlay.opaque=0x79",
      "",
      "# file: /u/a\\\\b\\012c",
      "trusted.overlay.metacopy",
      "trusted.overlay.origin=0x00fb",
      "",
    ].join("\n");
    const parsed = parseGetfattrDump(text);
    expect([...parsed.keys()]).toEqual(["/u/data", "/u/a\\b\nc"]);
    expect(parsed.get("/u/data")!["trusted.overlay.opaque"]!.toString()).toBe("y");
    expect(parsed.get("/u/a\\b\nc")!["trusted.overlay.metacopy"]!.length).toBe(0);
    expect(parsed.get("/u/a\\b\nc")!["trusted.overlay.origin"]).toEqual(Buffer.from([0x00, 0xfb]));
  });
});

const BASE = {
  "etc/app.conf": "app v1\n",
  "etc/keep.conf": "keep\n",
  "data/a.txt": "old a\n",
  "data/sub/b.txt": "old b\n",
  "var/log/old.log": "old log\n",
  "bin/tool": "#!/bin/sh\necho tool\n",
  "usr/share/doc/readme": "untouched\n",
  "abs-link": { symlink: "/etc" },
};
const TOP = {
  "etc/app.conf": "app v2\n",
  "opt/gone/x": "in a directory that is removed whole\n",
};

describe.runIf(canMountOverlay() && findXattrTool() !== undefined)("rootfsDiff on a real overlay", () => {
  let o: Overlay;
  let diff: RootfsDiffResult;
  let entries: Map<string, TarEntry>;

  beforeAll(async () => {
    o = mountOverlay([BASE, TOP]);
    inMerged(
      o,
      `
      printf 'app v3\\n' > etc/app.conf
      printf 'new\\n' > etc/new.conf
      mkdir -p newdir/nested
      printf 'hello\\n' > newdir/file.txt
      ln newdir/file.txt newdir/hard.txt
      mkfifo newdir/fifo
      rm var/log/old.log
      rm -rf opt/gone
      rm -rf data && mkdir -p data/sub
      printf 'fresh\\n' > data/fresh.txt
      printf 'c\\n' > data/sub/c.txt
      chmod 700 bin/tool
      ln -s /etc/passwd link-out
      mkdir -p run/secrets
      printf 'token\\n' > run/secrets/token
      printf 'state\\n' > run/other.txt
      printf 'box\\n' > etc/hostname
      `,
    );
    // A listening socket in the upper directory (a tar cannot hold one); Node removes it on close.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(o.merged, "newdir/sock"), resolve));
    try {
      diff = await rootfsDiff(o.upper, join(out, "diff.tar"), { lowerDirs: o.lowers, exclude: ["/etc/hostname", "/run/secrets"] });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    entries = byName(await readArchive(diff.path));
  });
  afterAll(() => o?.unmount());

  it("the kernel wrote what the test relies on: a whiteout, an opaque directory, copied-up directories", () => {
    const wh = lstatSync(join(o.upper, "var/log/old.log"));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(getXattr(join(o.upper, "data"), "trusted.overlay.opaque")).toBe("y");
    expect(getXattr(join(o.upper, "etc"), "trusted.overlay.origin")).toBeDefined();
    expect(getXattr(join(o.upper, "newdir"), "trusted.overlay.origin")).toBeUndefined();
  });

  it("lists exactly the added and modified files, new directories included and old ones not", () => {
    expect(diff.files).toEqual([
      "bin/tool",
      "data/fresh.txt",
      "data/sub/c.txt",
      "etc/app.conf",
      "etc/new.conf",
      "link-out",
      "newdir/",
      "newdir/fifo",
      "newdir/file.txt",
      "newdir/hard.txt",
      "newdir/nested/",
      "run/",
      "run/other.txt",
    ]);
    expect([...entries.keys()]).toEqual(diff.files);
  });

  it("lists deletions as deleted.files does: whiteouts, and what the opaque directory hides", () => {
    // data/ was removed and made anew: its old a.txt and sub/b.txt are gone, the new files are not.
    expect(diff.deleted).toEqual(["/data/a.txt", "/data/sub/b.txt", "/opt/gone", "/var/log/old.log"]);
    expect(diff.opaque).toEqual(["/data"]);
    expect(diff.skipped).toEqual(["/newdir/sock"]);
  });

  it("the tar holds the new content, modes, links and no path of the host", () => {
    expect(entries.get("etc/app.conf")!.data!.toString()).toBe("app v3\n");
    expect(entries.get("etc/new.conf")!.data!.toString()).toBe("new\n");
    expect(entries.get("bin/tool")!.mode & 0o7777).toBe(0o700);
    expect(entries.get("bin/tool")!.data!.toString()).toBe("#!/bin/sh\necho tool\n");
    expect(entries.get("link-out")).toMatchObject({ type: "symlink", linkname: "/etc/passwd", size: 0n });
    expect(entries.get("newdir/hard.txt")).toMatchObject({ type: "hardlink", linkname: "newdir/file.txt" });
    expect(entries.get("newdir/fifo")!.type).toBe("fifo");
    expect(entries.get("newdir/")!.type).toBe("dir");
    expect(entries.get("data/sub/c.txt")!.data!.toString()).toBe("c\n");
    for (const e of entries.values()) {
      expect(e.name.startsWith("/")).toBe(false);
      expect(e.uid).toBe(0);
    }
    expect(diff.bytes).toBe(lstatSync(diff.path).size);
    expect(lstatSync(diff.path).mode & 0o777).toBe(0o600);
  });

  it("GNU tar extracts it into the same files as the merged view", () => {
    const x = mkdtempSync(join(out, "extract-"));
    execFileSync("tar", ["-xf", diff.path, "-C", x]);
    for (const f of diff.files.filter((f) => !f.endsWith("/") && f !== "link-out" && f !== "newdir/fifo")) {
      expect(readFileSync(join(x, f), "utf8"), f).toBe(readFileSync(join(o.merged, f), "utf8"));
    }
    expect(readlinkSync(join(x, "link-out"))).toBe("/etc/passwd");
    expect(lstatSync(join(x, "newdir/hard.txt")).ino).toBe(lstatSync(join(x, "newdir/file.txt")).ino);
  });

  it("applied like CRI-O's restore (extract, then delete) onto the lower layers, it gives the merged tree", () => {
    const restored = mkdtempSync(join(out, "restored-"));
    for (const layer of [...o.lowers].reverse()) execFileSync("cp", ["-a", `${layer}/.`, restored]);
    // The lower layers' own whiteouts do not exist here (plain directories); TOP has none.
    execFileSync("tar", ["-xf", diff.path, "-C", restored]);
    for (const d of diff.deleted) rmSync(join(restored, d), { recursive: true, force: true });
    const tree = (root: string, rel = ""): string[] =>
      readdirSync(join(root, rel))
        .sort()
        .flatMap((n) => {
          const r = rel ? `${rel}/${n}` : n;
          const st = lstatSync(join(root, r));
          return st.isDirectory() && !st.isSymbolicLink() ? [`${r}/`, ...tree(root, r)] : [r];
        });
    const excluded = (p: string) => p === "etc/hostname" || p.startsWith("run/secrets") || p === "newdir/sock";
    expect(tree(restored).filter((p) => !excluded(p))).toEqual(tree(o.merged).filter((p) => !excluded(p)));
  });

  it("reads the overlay xattrs of many files in one helper process", async () => {
    const x = await readOverlayXattrs([join(o.upper, "data"), join(o.upper, "etc/new.conf"), join(o.upper, "etc")]);
    expect(x.get(join(o.upper, "data"))!.opaque!.toString()).toBe("y");
    expect(x.has(join(o.upper, "etc/new.conf"))).toBe(false);
    expect(x.get(join(o.upper, "etc"))!.origin!.length).toBeGreaterThan(0);
  });

  it("refuses to overwrite an existing tar, and a tar inside the upper directory", async () => {
    await expect(rootfsDiff(o.upper, diff.path, { lowerDirs: o.lowers })).rejects.toMatchObject({ code: "EEXIST" });
    await expect(rootfsDiff(o.upper, join(o.upper, "x.tar"), { lowerDirs: o.lowers })).rejects.toMatchObject({ code: "EINVAL" });
    const again = await rootfsDiff(o.upper, diff.path, { lowerDirs: o.lowers, overwrite: true, exclude: ["/etc/hostname", "/run/secrets"] });
    expect(again.files).toEqual(diff.files);
  });

  it("an aborted signal stops it with ABORT_ERR and writes nothing", async () => {
    const target = join(out, "aborted.tar");
    await expect(rootfsDiff(o.upper, target, { lowerDirs: o.lowers, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ABORT_ERR", path: target });
    expect(readdirSync(out).filter((n) => n.includes("aborted"))).toEqual([]);
  });

  it("without the lower layers, an opaque directory is an error that names it", async () => {
    await expect(rootfsDiff(o.upper, join(out, "no-lower.tar"))).rejects.toThrow(`${o.upper}/data: an opaque directory`);
    expect(readdirSync(out).filter((n) => n.includes("no-lower"))).toEqual([]);
  });
});

describe.runIf(canMountOverlay() && findXattrTool() !== undefined)("rootfsDiff: symlinks, origin, metacopy, renamed directories", () => {
  const mounts: Overlay[] = [];
  afterAll(() => mounts.forEach((m) => m.unmount()));

  it("without lower layers, a copied-up directory (origin xattr) is left out and a new one is kept", async () => {
    const o = mountOverlay([BASE]);
    mounts.push(o);
    inMerged(o, "printf x > etc/more.conf; mkdir -p fresh/deeper; printf y > fresh/deeper/f; rm etc/keep.conf");
    const d = await rootfsDiff(o.upper, join(out, "origin.tar"));
    expect(d.files).toEqual(["etc/more.conf", "fresh/", "fresh/deeper/", "fresh/deeper/f"]);
    expect(d.deleted).toEqual(["/etc/keep.conf"]);
  });

  it("a symlink in the upper directory is archived as a link, never followed, also where a lower symlink points at the host", async () => {
    const o = mountOverlay([BASE]);
    mounts.push(o);
    // Replace a lower absolute symlink with another one, and add a symlink to a host directory.
    inMerged(o, "rm abs-link; ln -s /root abs-link; ln -s / rootlink");
    const d = await rootfsDiff(o.upper, join(out, "links.tar"), { lowerDirs: o.lowers });
    expect(d.files).toEqual(["abs-link", "rootlink"]);
    const e = byName(await readArchive(d.path));
    expect(e.get("abs-link")).toMatchObject({ type: "symlink", linkname: "/root" });
    expect(e.get("rootlink")).toMatchObject({ type: "symlink", linkname: "/" });
  });

  it("a directory replaced by a symlink to the host behind overlay's back is archived as that symlink", async () => {
    const o = mountOverlay([BASE]);
    mounts.push(o);
    inMerged(o, "mkdir -p box && printf 'mine\\n' > box/passwd");
    // The upper directory is changed behind overlay's back, as a racing container could.
    rmSync(join(o.upper, "box"), { recursive: true });
    symlinkSync("/etc", join(o.upper, "box"));
    const d = await rootfsDiff(o.upper, join(out, "swap.tar"), { lowerDirs: o.lowers });
    expect(d.files).toEqual(["box"]);
    expect(byName(await readArchive(d.path)).get("box")).toMatchObject({ type: "symlink", linkname: "/etc" });
  });

  it("metacopy files (metacopy=on) are archived with their data from the lower layer, renamed ones too", async () => {
    const o = mountOverlay([BASE, TOP], ["metacopy=on", "redirect_dir=on"]);
    mounts.push(o);
    inMerged(o, "chmod 600 etc/app.conf; mv usr/share/doc/readme usr/share/doc/README");
    expect(getXattr(join(o.upper, "etc/app.conf"), "trusted.overlay.metacopy")).toBeDefined();
    expect(getXattr(join(o.upper, "usr/share/doc/README"), "trusted.overlay.redirect")).toBeDefined();
    const d = await rootfsDiff(o.upper, join(out, "metacopy.tar"), { lowerDirs: o.lowers });
    expect(d.files).toEqual(["etc/app.conf", "usr/share/doc/README"]);
    expect(d.deleted).toEqual(["/usr/share/doc/readme"]);
    const e = byName(await readArchive(d.path));
    expect(e.get("etc/app.conf")!.data!.toString()).toBe("app v2\n");
    expect(e.get("etc/app.conf")!.mode & 0o777).toBe(0o600);
    expect(e.get("usr/share/doc/README")!.data!.toString()).toBe("untouched\n");
    await expect(rootfsDiff(o.upper, join(out, "metacopy-nolower.tar"))).rejects.toThrow(`${o.upper}/etc/app.conf: a metacopy file`);
  });

  it("a renamed lower directory (redirect_dir) is refused with its name", async () => {
    const o = mountOverlay([BASE], ["redirect_dir=on"]);
    mounts.push(o);
    inMerged(o, "mv data data2");
    await expect(rootfsDiff(o.upper, join(out, "redirect.tar"), { lowerDirs: o.lowers })).rejects.toThrow(`${o.upper}/data2: a renamed directory`);
    expect(existsSync(join(out, "redirect.tar"))).toBe(false);
  });

  it("long and non-ASCII names, and owners beyond ustar's 6 octal digits, survive GNU tar", async () => {
    const o = mountOverlay([BASE]);
    mounts.push(o);
    const deep = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(60)}.txt`;
    inMerged(o, `mkdir -p ${deep.slice(0, deep.lastIndexOf("/"))}; printf deep > ${deep}; printf hi > 'ünï cödé.txt'; printf big > bigid; chown 3000000:3000001 bigid`);
    const d = await rootfsDiff(o.upper, join(out, "names.tar"), { lowerDirs: o.lowers });
    expect(d.files).toEqual(["bigid", `${"d".repeat(60)}/`, `${"d".repeat(60)}/${"e".repeat(60)}/`, deep, "ünï cödé.txt"]);
    const x = mkdtempSync(join(out, "names-"));
    execFileSync("tar", ["-xpf", d.path, "-C", x]);
    expect(readFileSync(join(x, deep), "utf8")).toBe("deep");
    expect(readFileSync(join(x, "ünï cödé.txt"), "utf8")).toBe("hi");
    expect(lstatSync(join(x, "bigid"))).toMatchObject({ uid: 3000000, gid: 3000001 });
  });

  it("an empty upper directory gives an empty tar and no changes", async () => {
    const o = mountOverlay([BASE]);
    mounts.push(o);
    const d = await rootfsDiff(o.upper, join(out, "empty.tar"), { lowerDirs: o.lowers });
    expect(d).toMatchObject({ files: [], deleted: [], opaque: [], skipped: [], bytes: 1024 });
    unlinkSync(d.path);
  });
});
