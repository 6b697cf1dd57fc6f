/**
 * Pod checkpoints read by show, inspect and list: built here from three real CRIU 4.2.1 dumps (the
 * fixtures), each in CRI-O's archive layout, with a manifest holding their real sizes, sha256 and
 * frozen times; as a directory, and as a tar of it (plain, gzip, zstd, sealed). Every container's
 * row must be what `ckpt show` prints for its archive alone and what checkpointctl 1.3.0 reads from
 * the same bytes; hostile manifests and tampered archives must end in one line naming the file and
 * the manifest's field.
 */
import { createHash } from "node:crypto";
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byteToString } from "../../src/analyze/units.js";
import { PodCheckpointArchive } from "../../src/checkpoint/archive/pod-checkpoint-archive.js";
import { Checkpoint } from "../../src/checkpoint/checkpoint.js";
import { firstMemberName } from "../../src/checkpoint/archive/pod-checkpoint-detect.js";
import { buildArchive, compress, haveZstd, hostileArchive, packTar, tarEntries, tarHeaders, type ArchiveContainer } from "../support/archives.js";
import { expectRowAsCheckpointctl, haveCheckpointctl } from "../support/checkpointctl.js";
import { ensureCliBuilt, expectOneLineError, runCkpt, type CliResult } from "../support/ckpt-cli.js";
import { FIXTURE_DIRS, FIXTURES, haveFixtures } from "../support/fixtures.js";
import { podManifest, podTarMembers, writePodDirectory, writePodTar, type PodContainerArchive } from "../support/pod-checkpoints.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read back from the CLI
type Json = Record<string, any>;

const work = mkdtempSync(join(tmpdir(), "ckpt-pod-show-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const POD = { namespace: "shop", name: "web", uid: "6f1c2a9e-5d1b-4c1e-9b8e-2f4a1c3d5e7f" };
const hex = (s: string) => createHash("sha256").update(s).digest("hex");
const container = (name: string, ip?: string): ArchiveContainer => ({
  name,
  id: hex(`pod-show/${name}/container`),
  pod: POD.name,
  namespace: POD.namespace,
  image: `quay.io/example/${name}:latest`,
  imageRef: hex(`pod-show/${name}/image`),
  ip,
  created: "2026-11-23T11:59:00.123456789Z",
  checkpointed: "2026-11-23T12:00:00.5Z",
});

function ok(args: string[]): CliResult {
  const r = runCkpt(args);
  expect(r.status, r.stderr).toBe(0);
  return r;
}

const json = (args: string[]): Json[] => JSON.parse(ok([...args, "--format", "json"]).stdout) as Json[];
const withoutPath = (row: Json): Json => ({ ...row, path: undefined });

describe.runIf(haveFixtures())("pod checkpoints: show, inspect and list", () => {
  /** app: the runc counter (with a root FS diff); worker: a python process; helper: unshare-mix (with a zombie). */
  let archives: PodContainerArchive[];
  let manifest: Record<string, unknown>;
  let dir: string;
  let tar: string;
  let forms: string[];

  beforeAll(async () => {
    ensureCliBuilt();
    const counter = join(FIXTURES, "runc-counter");
    const build = (name: string, imagesDir: string, extra: object = {}) =>
      buildArchive({ layout: "crio", imagesDir, out: join(work, `${name}-alone.tar`), container: container(name, "10.88.0.9"), ...extra });
    archives = [
      {
        name: "app",
        file: await build("app", FIXTURE_DIRS.runcCounter, {
          spec: JSON.parse(readFileSync(join(counter, "spec.json"), "utf8")),
          rootfsDiff: join(counter, "rootfs-diff.tar"),
          statsDump: join(counter, "stats-dump"),
          dumpLog: join(counter, "dump.log"),
          deletedFiles: [],
        }),
        times: [0, 30, 200, 700],
      },
      { name: "worker", file: await build("worker", FIXTURE_DIRS.pythonProc), times: [10, 200, 400, 710] },
      { name: "helper", file: await build("helper", FIXTURE_DIRS.unshareMix), times: [20, 400, 600, 720] },
    ];
    manifest = podManifest(POD, archives);
    dir = writePodDirectory(join(work, `checkpoint-${POD.uid}`), manifest, archives);
    tar = writePodTar(join(work, "web.tar"), podTarMembers(manifest, archives));
    forms = [dir, tar, writePodTar(join(work, "web.tar.gz"), podTarMembers(manifest, archives), "gzip")];
    if (haveZstd()) forms.push(writePodTar(join(work, "web.tar.zst"), podTarMembers(manifest, archives), "zstd"));
  });

  const label = (form: string, name: string) => (form === dir ? join(dir, name) : `${form}:${name}`);

  it("show: each container's row is ckpt show of its archive alone, in every form; totals are their sums", () => {
    const alone = json(["show", ...archives.map((a) => a.file)]);
    for (const form of forms) {
      const [pod] = json(["show", form]);
      expect(pod!.kind).toBe("pod");
      expect(pod!.rows.map(withoutPath)).toEqual(alone.map((row, i) => ({ ...withoutPath(row), archive: `${archives[i]!.name}.tar`, archiveBytes: readFileSync(archives[i]!.file).length, manifest: (manifest.containers as Json[])[i] })));
      expect(pod!.rows.map((r: Json) => r.path)).toEqual(archives.map((a) => label(form, `${a.name}.tar`)));
      const sum = (key: string) => alone.reduce((n, r) => n + r[key], 0);
      const stats = Object.fromEntries(Object.keys(alone[0]!.stats).map((k) => [k, alone.reduce((n, r) => n + r.stats[k], 0)]));
      expect(pod!.totals).toEqual({
        archiveBytes: archives.reduce((n, a) => n + readFileSync(a.file).length, 0),
        checkpointSize: sum("checkpointSize"),
        rootfsDiffSize: sum("rootfsDiffSize"),
        stats,
      });
      expect(pod).toMatchObject({
        namespace: "shop",
        name: "web",
        uid: POD.uid,
        node: "node-a",
        runtime: "runc",
        containers: ["app", "worker", "helper"],
        podFrozen: { from: "2026-11-23T12:00:00.000Z", to: "2026-11-23T12:00:00.720Z", ms: 720 },
        commonFrozenWindow: { from: "2026-11-23T12:00:00.020Z", to: "2026-11-23T12:00:00.700Z", ms: 680 },
        capturedWhileAllFrozen: true,
        checked: "sizes",
        mismatches: [],
        unlisted: [],
      });
    }
  });

  it.runIf(haveCheckpointctl())("checkpointctl 1.3.0 reads the same values from each member of the pod's tar", async () => {
    const [pod] = json(["show", tar]);
    const bytes = readFileSync(tar);
    for (const [i, a] of archives.entries()) {
      // The member's bytes, as they lie in the pod's tar, for checkpointctl to read on their own.
      const member = tarEntries(bytes).find((e) => e.name === `${a.name}.tar`)!;
      const file = join(work, `member-${a.name}.tar`);
      writeFileSync(file, member.data!);
      expectRowAsCheckpointctl(pod!.rows[i], file);
    }
  });

  it("show prints the pod, a row per container and the totals; --print-stats adds the statistics and their totals", () => {
    const alone = json(["show", ...archives.map((a) => a.file)]);
    const out = ok(["show", "--print-stats", tar]).stdout;
    for (const line of [
      "Pod shop/web",
      `├── UID: ${POD.uid}`,
      "├── Node: node-a",
      "├── Runtime: runc",
      "├── Sandbox: web (IP 10.88.0.9)",
      "├── Checkpoint: 2026-11-23T12:00:00.000Z to 2026-11-23T12:00:00.770Z",
      "├── Containers: 3 (app, worker, helper)",
      "├── Pod frozen: 720 ms (2026-11-23T12:00:00.000Z to 2026-11-23T12:00:00.720Z), first pause to last resume",
      "├── All frozen: 680 ms (2026-11-23T12:00:00.020Z to 2026-11-23T12:00:00.700Z), every container captured inside it",
      "in 3 files, sizes as the manifest says",
      "CRIU dump statistics",
    ]) {
      expect(out).toContain(line);
    }
    // The rows as ckpt show prints the archives alone, then the totals in the size columns.
    const rowsAlone = ok(["show", ...archives.map((a) => a.file)]).stdout.split("\n").filter((l) => l.startsWith("│") && !l.includes("CONTAINER"));
    for (const row of rowsAlone) expect(out).toContain(row);
    const total = (key: string) => byteToString(alone.reduce((n, r) => n + r[key], 0));
    expect(out).toMatch(new RegExp(`│ pod total +│( +│){6} ${total("checkpointSize")} +│ ${total("rootfsDiffSize")} +│`));
    const s = Object.fromEntries(Object.keys(alone[0]!.stats).map((k) => [k, alone.reduce((n, r) => n + r.stats[k], 0)]));
    expect(out).toMatch(new RegExp(`│ pod total +│ ${s.freezingTime} us +│ ${s.frozenTime} us +│ ${s.memdumpTime} us +│ ${s.memwriteTime} us +│ ${s.pagesScanned} +│ ${s.pagesWritten} +│`));
  });

  it("a member of a plain tar is read in place; of a compressed tar, streamed; both give the same bytes", async () => {
    const read = async (form: string) => {
      const pod = await PodCheckpointArchive.open(form);
      try {
        const out = [];
        for (const entry of pod.entries) {
          const cp = Checkpoint.fromArchive(await pod.openContainer(entry));
          try {
            out.push({ seekable: cp.archive.seekable, compression: cp.archive.compression, path: cp.path, inventory: Buffer.from(cp.archive.read("checkpoint/inventory.img")).toString("hex"), processes: cp.images.has("pstree.img") });
          } finally {
            cp.close();
          }
        }
        return out;
      } finally {
        pod.close();
      }
    };
    const plain = await read(tar);
    expect(plain.map((c) => [c.seekable, c.compression, c.path])).toEqual(archives.map((a) => [true, "none", `${tar}:${a.name}.tar`]));
    const fromDir = await read(dir);
    expect(fromDir.map((c) => [c.seekable, c.path])).toEqual(archives.map((a) => [true, join(dir, `${a.name}.tar`)]));
    const gz = await read(forms[2]!);
    expect(gz.map((c) => c.seekable)).toEqual([false, false, false]);
    for (const other of [fromDir, gz]) expect(other.map((c) => c.inventory)).toEqual(plain.map((c) => c.inventory));
  });

  it("container archives compressed on their own read the same, in a directory, a plain tar and a gzip'd tar", () => {
    const alone = json(["show", ...archives.map((a) => a.file)]);
    const squeezed = archives.map((a, i) => {
      if (i === 0) return a;
      const kind = i === 1 || !haveZstd() ? "gzip" : "zstd";
      const file = join(work, `${a.name}-own.tar.${kind === "gzip" ? "gz" : "zst"}`);
      writeFileSync(file, compress(readFileSync(a.file), kind));
      return { ...a, file, archive: `${a.name}.tar.${kind === "gzip" ? "gz" : "zst"}` };
    });
    const m = podManifest(POD, squeezed);
    const where = writePodDirectory(join(work, "squeezed"), m, squeezed);
    for (const form of [where, writePodTar(join(work, "squeezed.tar"), podTarMembers(m, squeezed)), writePodTar(join(work, "squeezed.tar.gz"), podTarMembers(m, squeezed), "gzip")]) {
      const [pod] = json(["show", "--verify", form]);
      expect(pod!.rows.map((r: Json) => ({ ...withoutPath(r), archive: undefined, archiveBytes: undefined, manifest: undefined }))).toEqual(
        alone.map((r) => ({ ...withoutPath(r), archive: undefined, archiveBytes: undefined, manifest: undefined })),
      );
    }
  });

  it("inspect prints the pod, then each container's tree as inspect prints its archive alone, with the same flags", () => {
    for (const flags of [["--ps-tree"], ["--all"], ["--files", "--sockets"]]) {
      const alone = json(["inspect", ...flags, ...archives.map((a) => a.file)]);
      const aloneText = ok(["inspect", ...flags, ...archives.map((a) => a.file)]).stdout;
      for (const form of forms) {
        const [pod] = json(["inspect", ...flags, form]);
        expect(pod!.kind).toBe("pod");
        expect(pod!.checkpoints).toEqual(alone);
        const text = ok(["inspect", ...flags, form]).stdout;
        expect(text.startsWith(`\nDisplaying pod checkpoint from ${form}\n\nPod shop/web\n`)).toBe(true);
        let expected = aloneText;
        for (const a of archives) expected = expected.replace(`tree view from ${a.file}\n`, `tree view from ${label(form, `${a.name}.tar`)}\n`);
        expect(text.endsWith(expected), `${form} ${flags.join(" ")}`).toBe(true);
      }
    }
  });

  it("list finds pod checkpoints (directories and tars) beside container archives", () => {
    const listed = join(work, "listed");
    mkdirSync(listed);
    cpSync(dir, join(listed, `checkpoint-${POD.uid}`), { recursive: true });
    cpSync(forms[2]!, join(listed, "checkpoint-web-2026-11-23T12:00:00Z.tar.gz"));
    cpSync(archives[0]!.file, join(listed, "checkpoint-web_shop-app-2026-11-23T12:00:00Z.tar"));
    mkdirSync(join(listed, "checkpoint-not-a-pod"));
    const found = json(["list", listed]);
    expect(found.map((c) => [c.name, c.namespace, c.pod, c.container, c.engine, c.checkpointed, c.containers])).toEqual([
      [`checkpoint-${POD.uid}`, "shop", "web", "app, worker, helper", "pod (runc)", "23 Nov 26 12:00 UTC", ["app", "worker", "helper"]],
      ["checkpoint-web-2026-11-23T12:00:00Z.tar.gz", "shop", "web", "app, worker, helper", "pod (runc)", "23 Nov 26 12:00 UTC", ["app", "worker", "helper"]],
      ["checkpoint-web_shop-app-2026-11-23T12:00:00Z.tar", "shop", "web", "app", "CRI-O", "23 Nov 26 12:00 UTC", undefined],
    ]);
    const table = ok(["list", listed]).stdout;
    expect(table).toContain(`Listing checkpoints in path: ${listed}`);
    expect(table).toMatch(/│ shop +│ web +│ app, worker, helper +│ pod \(runc\) +│ 23 Nov 26 12:00 UTC +│ checkpoint-6f1c2a9e/);
  });

  it("--verify checks every sha256; a mismatch is one line naming the archive and the field", () => {
    for (const form of forms) expect(json(["show", "--verify", form])[0]!.checked).toBe("sizes and sha256");
    expect(ok(["inspect", "--verify", tar]).stdout).toContain("sizes and sha256 as the manifest says");

    // One byte of the worker's memory pages changed: same size, so only --verify sees it.
    const tampered = (archives: PodContainerArchive[]) => {
      const worker = readFileSync(archives[1]!.file);
      const pages = tarEntries(worker).find((e) => e.name.startsWith("checkpoint/pages-"))!;
      worker[pages.offset + 10] ^= 0xff;
      const file = join(work, "worker-tampered.tar");
      writeFileSync(file, worker);
      return archives.map((a, i) => (i === 1 ? { ...a, file } : a));
    };
    const changed = tampered(archives);
    const badDir = writePodDirectory(join(work, "tampered"), manifest, changed);
    const badTar = writePodTar(join(work, "tampered.tar.gz"), podTarMembers(manifest, changed), "gzip");
    const actual = createHash("sha256").update(readFileSync(changed[1]!.file)).digest("hex");
    const wanted = (manifest.containers as Json[])[1]!.sha256;
    for (const [form, file] of [
      [badDir, join(badDir, "worker.tar")],
      [badTar, `${badTar}:worker.tar`],
    ] as const) {
      const quiet = runCkpt(["show", form]);
      expect(quiet.status, quiet.stderr).toBe(0);
      expect(quiet.stderr).toBe("");
      for (const command of ["show", "inspect"]) {
        const line = expectOneLineError(runCkpt([command, "--verify", form]), file);
        expect(line).toContain(`${file}: sha256 ${actual}, the manifest says ${wanted} (containers.1.sha256)`);
      }
    }

    // 512 bytes more at the end of the helper's archive: it still reads, the size tells.
    const grownDir = writePodDirectory(join(work, "grown"), manifest, archives);
    appendFileSync(join(grownDir, "helper.tar"), Buffer.alloc(512));
    const size = readFileSync(archives[2]!.file).length;
    const warned = runCkpt(["show", grownDir]);
    expect(warned.status).toBe(0);
    expect(warned.stderr).toBe(`ckpt: warning: ${join(grownDir, "helper.tar")}: ${size + 512} bytes, the manifest says ${size} (containers.2.bytes)\n`);
    expect(warned.stdout).toContain("1 NOT as the manifest says");
    expect(json(["show", grownDir])[0]!.mismatches).toEqual([{ archive: join(grownDir, "helper.tar"), field: "containers.2.bytes", expected: size, actual: size + 512 }]);
    const line = expectOneLineError(runCkpt(["show", "--verify", grownDir]), join(grownDir, "helper.tar"));
    expect(line).toContain("(containers.2.bytes)");
    expect(line).toContain("(containers.2.sha256)");
  });

  describe("hostile pod checkpoints end in one line naming the file and the field", () => {
    /** The good manifest with one edit, made when the test runs (after the archives are built). */
    const variant = (edit: (m: Json) => void) => (): Json => {
      const m = structuredClone(manifest) as Json;
      edit(m);
      return m;
    };
    const manifests: Array<[string, () => Json | string, string]> = [
      ["not JSON", () => "{ not json", "not JSON"],
      ["another kind", variant((m) => (m.kind = "Pod")), "kind"],
      ["an archive name with a path", variant((m) => (m.containers[0].archive = "../app.tar")), "containers.0.archive: archive must be a plain file name"],
      ["an archive in a subdirectory", variant((m) => (m.containers[1].archive = "sub/worker.tar")), "containers.1.archive: archive must be a plain file name"],
      ["two containers of one name", variant((m) => (m.containers[2].name = "app")), "duplicate container app"],
      ["two containers with one archive", variant((m) => (m.containers[2].archive = "app.tar")), "containers.2.archive: app.tar is already the archive of containers.0"],
      ["an archive that is not there", variant((m) => (m.containers[2].archive = "ghost.tar")), "containers.2.archive: ghost.tar is not in"],
      ["a sha256 that is not one", variant((m) => (m.containers[0].sha256 = "abc")), "containers.0.sha256"],
      ["no containers", variant((m) => (m.containers = [])), "containers"],
      ["a time that is not one", variant((m) => (m.containers[1].pausedAt = "yesterday")), "containers.1.pausedAt"],
    ];
    manifests.forEach(([what, make, message], i) => {
      it(what, () => {
        const m = make();
        const parent = join(work, `hostile-${i}`);
        const where = writePodDirectory(join(parent, "checkpoint-pod"), m, archives);
        const plain = writePodTar(join(parent, "checkpoint-pod.tar"), podTarMembers(m, archives));
        const manifestPaths = [join(where, "pod-checkpoint.json"), `${plain}:pod-checkpoint.json`];
        [where, plain].forEach((form, j) => {
          for (const command of ["show", "inspect"]) expect(expectOneLineError(runCkpt([command, form]), manifestPaths[j]!)).toContain(message);
        });
        // list goes on past what it cannot read, saying why.
        const listed = runCkpt(["list", parent]);
        expect(listed.status).toBe(0);
        expect(listed.stdout).toBe(`No checkpoints found in ${parent}\n`);
        const skipped = listed.stderr.trimEnd().split("\n");
        expect(skipped).toHaveLength(2);
        skipped.forEach((line, j) => {
          expect(line.startsWith(`ckpt: skipped ${manifestPaths[j]}`), line).toBe(true);
          expect(line).toContain(message);
        });
      });
    });

    it("an archive member that is a link, or there twice, or not an archive", async () => {
      const members = podTarMembers(manifest, archives);
      const link = writePodTar(join(work, "link.tar"), [members[0]!, { name: "app.tar", type: "symlink", linkname: "/etc/passwd" }, ...members.slice(2)]);
      expect(expectOneLineError(runCkpt(["show", link]), link)).toContain("containers.0.archive: app.tar: symbolic link to /etc/passwd");
      const twice = writePodTar(join(work, "twice.tar"), [...members, { ...members[1]!, data: Buffer.from("evil") }]);
      expect(expectOneLineError(runCkpt(["show", twice]), twice)).toContain("containers.0.archive: app.tar: more than one member of this name");
      const linkDir = writePodDirectory(join(work, "link-dir"), manifest, archives);
      rmSync(join(linkDir, "worker.tar"));
      symlinkSync(archives[1]!.file, join(linkDir, "worker.tar"));
      expect(expectOneLineError(runCkpt(["show", linkDir]), linkDir)).toContain("containers.1.archive: worker.tar: symbolic link");
      // A truncated container archive, its manifest entry matching its bytes.
      const cut = await hostileArchive("truncated", join(work, "cut.tar"));
      const withCut = archives.map((a, i) => (i === 0 ? { ...a, file: cut } : a));
      const cutTar = writePodTar(join(work, "cut-pod.tar"), podTarMembers(podManifest(POD, withCut), withCut));
      expectOneLineError(runCkpt(["show", cutTar]), `${cutTar}:app.tar`);
    });

    it("a tar whose manifest is not its first member is no pod checkpoint, and says so", () => {
      const members = podTarMembers(manifest, archives);
      const late = writePodTar(join(work, "late.tar"), [...members.slice(1), members[0]!]);
      expect(expectOneLineError(runCkpt(["show", late]), late)).toContain("no checkpoint directory but a pod-checkpoint.json: pod checkpoints are read by show, inspect and list (in a tar, the manifest must be the first member)");
    });
  });

  it("a manifest whose containers were never all frozen at once says so", () => {
    const apart = archives.map((a, i) => ({ ...a, times: (i === 0 ? [0, 10, 20, 30] : [100, 110, 120, 130]) as PodContainerArchive["times"] }));
    const where = writePodDirectory(join(work, "apart"), podManifest(POD, apart), apart);
    const out = ok(["show", where]).stdout;
    expect(out).toContain("├── All frozen: never (the first resume came 70 ms before the last pause)");
    expect(json(["show", where])[0]).toMatchObject({ commonFrozenWindow: { ms: -70 }, capturedWhileAllFrozen: false });
  });

  it("a pod checkpoint sealed as a whole reads with its key, and only with it; a container archive sealed alone, from a directory", () => {
    const key = join(work, "pod.key");
    const recipient = ok(["seal", "keygen", "-o", key]).stdout.trim();
    const sealed = join(work, "web.tar.gz.age");
    ok(["seal", forms[2]!, "-r", recipient, "-o", sealed]);
    expect(expectOneLineError(runCkpt(["show", sealed]), sealed)).toBe(`ckpt: ${sealed}: sealed archive: give --identity`);
    const [pod] = json(["show", "--verify", "-i", key, sealed]);
    const [plain] = json(["show", tar]);
    expect(pod!.rows.map(withoutPath)).toEqual(plain!.rows.map(withoutPath));
    expect(pod!.checked).toBe("sizes and sha256");

    // A container's archive sealed on its own: read from a directory with the key; inside a tar, refused.
    const sealedApp = join(work, "app.tar.age");
    ok(["seal", archives[0]!.file, "-r", recipient, "-o", sealedApp]);
    const withSealed = archives.map((a, i) => (i === 0 ? { ...a, file: sealedApp, archive: "app.tar.age" } : a));
    const m = podManifest(POD, withSealed);
    const where = writePodDirectory(join(work, "sealed-member"), m, withSealed);
    expect(json(["show", "-i", key, where])[0]!.rows.map(withoutPath)[0]).toEqual({ ...withoutPath(plain!.rows[0]), archive: "app.tar.age", archiveBytes: readFileSync(sealedApp).length, manifest: (m.containers as Json[])[0] });
    const inTar = writePodTar(join(work, "sealed-member.tar"), podTarMembers(m, withSealed));
    expect(expectOneLineError(runCkpt(["show", "-i", key, inTar]), `${inTar}:app.tar.age`)).toContain("a sealed archive inside another archive is not read");
  });

  it("commands that read one container say how to read a pod checkpoint", () => {
    for (const form of [dir, tar]) {
      const line = expectOneLineError(runCkpt(["memparse", form]), form);
      expect(line).toContain("pod-checkpoint.json");
      expect(line).toContain("show, inspect and list");
    }
  });
});

describe("pod checkpoint detection", () => {
  const file = (name: string, data = "x") => ({ name, data: Buffer.from(data) });

  it("takes the first member's name from its header, behind PAX and GNU long-name headers", () => {
    expect(firstMemberName(packTar([file("pod-checkpoint.json"), file("app.tar")]))).toBe("pod-checkpoint.json");
    expect(firstMemberName(packTar([file("./pod-checkpoint.json")]))).toBe("pod-checkpoint.json");
    // A name over 100 bytes gets a PAX header first.
    const long = `${"d/".repeat(60)}pod-checkpoint.json`;
    expect(firstMemberName(packTar([file(long)]))).toBe(long);
    // GNU tar's way: an 'L' member whose data is the next member's name.
    const name = Buffer.from("pod-checkpoint.json\0");
    const longLink = Buffer.from(tarHeaders({ name: "././@LongLink", data: name }));
    longLink.write("L", 156, "latin1");
    longLink.fill(0x20, 148, 156);
    longLink.write(`${longLink.reduce((n, b) => n + b, 0).toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    expect(firstMemberName(Buffer.concat([longLink, name, Buffer.alloc(512 - name.length), packTar([file("short")])]))).toBe("pod-checkpoint.json");
  });

  it("says nothing for what is not a tar, an empty tar or a climbing name", () => {
    expect(firstMemberName(Buffer.alloc(0))).toBeUndefined();
    expect(firstMemberName(Buffer.alloc(1024))).toBeUndefined();
    expect(firstMemberName(Buffer.from("{\"apiVersion\": 1}".padEnd(1024)))).toBeUndefined();
    expect(firstMemberName(packTar([file("../pod-checkpoint.json")]))).toBeUndefined();
  });
});
