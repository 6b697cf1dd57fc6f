/**
 * The layer tar of a checkpoint image: the archive's members at the root of the layer, exactly the
 * archive layout (what `buildah add <ctr> <archive> /` unpacks). Streamed member by member, so page
 * data never sits in memory. Headers are normalised (uid/gid 0, no user names, fixed mtime) and only
 * regular files and directories pass, under the archive reader's member policy: the same archive
 * always gives the same bytes, and a hostile member never reaches an image a node will unpack.
 */
import { createReadStream, readdirSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { Readable } from "node:stream";
import { decompress, detectCompression } from "../checkpoint/archive/compression.js";
import { checkMemberName, checkMemberType, type Refusal } from "../checkpoint/archive/member-policy.js";
import { openSealedBytes, type OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { detectSealed } from "../checkpoint/seal/age-format.js";

type TarStream = typeof import("tar-stream");
const tarStream = createRequire(import.meta.url)("tar-stream") as TarStream;

/** Every layer entry's mtime: the epoch, as reproducible builds do (SOURCE_DATE_EPOCH=0). */
export const LAYER_MTIME = new Date(0);

export interface LayerTar {
  /** The uncompressed layer tar. */
  stream: Readable;
  /** Members left out (links, devices, hostile names), known once the stream has ended. */
  refused: Refusal[];
}

interface SourceMember {
  name: string;
  type: string;
  linkname: string;
  mode: number;
  size: number;
  body?: Readable;
}

/**
 * The layer tar of the archive, compressed tar or unpacked directory at `path`; a member named in
 * `replace` gets those bytes instead of its own.
 */
export async function layerTar(path: string, replace: ReadonlyMap<string, Buffer> = new Map(), opts: OpenOptions = {}): Promise<LayerTar> {
  const refused: Refusal[] = [];
  const source = statSync(path).isDirectory() ? directoryMembers(path) : await tarMembers(path, opts);
  const pack = tarStream.pack();
  const done = (async () => {
    const seenDirs = new Set<string>();
    const seen = new Set<string>();
    for await (const m of source) {
      const checked = checkMemberName(m.name);
      const problem = "reason" in checked ? checked.reason : checkMemberType(m.type, m.linkname);
      const name = "name" in checked ? checked.name : m.name;
      if (problem || name === "" || (seen.has(name) && m.type !== "directory")) {
        if (problem || name !== "") refused.push({ name, reason: problem ?? "duplicate member (the first one is used)" });
        m.body?.resume();
        continue;
      }
      seen.add(name);
      // A tar may omit a parent's own entry; the layer lists it first so every unpacker creates it alike.
      const parts = name.split("/");
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join("/");
        if (seenDirs.has(dir)) continue;
        seenDirs.add(dir);
        await entry(pack, { name: `${dir}/`, type: "directory", mode: 0o755, size: 0 });
      }
      if (m.type === "directory") {
        if (seenDirs.has(name)) continue;
        seenDirs.add(name);
        await entry(pack, { name: `${name}/`, type: "directory", mode: m.mode & 0o7777, size: 0 });
      } else if (replace.has(name)) {
        m.body?.resume();
        const bytes = replace.get(name)!;
        await entry(pack, { name, type: "file", mode: m.mode & 0o7777, size: bytes.length }, Readable.from([bytes]));
      } else {
        await entry(pack, { name, type: "file", mode: m.mode & 0o7777, size: m.size }, m.body);
      }
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  void done;
  return { stream: pack as unknown as Readable, refused };
}

type Pack = ReturnType<TarStream["pack"]>;

async function entry(pack: Pack, h: { name: string; type: "file" | "directory"; mode: number; size: number }, body?: Readable): Promise<void> {
  const header = { ...h, uid: 0, gid: 0, uname: "", gname: "", mtime: LAYER_MTIME };
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (h.type === "directory") return;
    if (!body) return void reject(new Error(`${h.name}: no data`));
    body.on("error", reject);
    body.pipe(sink);
  });
}

/** Members of a tar (any compression the archive reader knows, sealed or not), in archive order, each body read once. */
async function tarMembers(path: string, opts: OpenOptions): Promise<AsyncIterable<SourceMember>> {
  const fh = await open(path, "r");
  const buf = Buffer.alloc(512);
  const { bytesRead } = await fh.read(buf, 0, 512, 0);
  await fh.close();
  const head = buf.subarray(0, bytesRead);
  const { compression, open: bytes } = detectSealed(head)
    ? await openSealedBytes(path, head, opts)
    : { compression: detectCompression(head), open: () => createReadStream(path, { highWaterMark: 1 << 20 }) };
  const input = decompress(bytes(), compression);
  const extract = tarStream.extract();
  input.on("error", (err) => extract.destroy(err));
  input.pipe(extract);
  return (async function* () {
    for await (const e of extract as AsyncIterable<{ header: { name: string; type?: string | null; linkname?: string | null; mode?: number; size?: number } } & Readable>) {
      const h = e.header;
      yield { name: h.name, type: h.type ?? "file", linkname: h.linkname ?? "", mode: h.mode ?? 0o644, size: h.size ?? 0, body: e };
    }
  })();
}

/** Members of an unpacked archive directory, names sorted so the walk order does not depend on the file system. */
function* directoryMembers(root: string): Generator<SourceMember> {
  // A bare CRIU image directory is the checkpoint/ of an archive, as the archive reader sees it.
  const bare = statSync(join(root, "inventory.img"), { throwIfNoEntry: false })?.isFile() ?? false;
  function* walk(dir: string, prefix: string): Generator<SourceMember> {
    const names = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of names) {
      const full = join(dir, d.name);
      const name = prefix ? `${prefix}/${d.name}` : d.name;
      const st = statSync(full, { throwIfNoEntry: false });
      if (d.isDirectory()) {
        yield { name, type: "directory", linkname: "", mode: st?.mode ?? 0o755, size: 0 };
        yield* walk(full, name);
      } else if (d.isFile() && st) {
        yield { name, type: "file", linkname: "", mode: st.mode, size: st.size, body: createReadStream(full, { highWaterMark: 1 << 20 }) };
      } else {
        yield { name, type: d.isSymbolicLink() ? "symlink" : "other", linkname: "", mode: 0, size: 0 };
      }
    }
  }
  if (bare) {
    yield { name: "checkpoint", type: "directory", linkname: "", mode: statSync(root).mode, size: 0 };
    yield* walk(root, "checkpoint");
  } else yield* walk(root, "");
}
