/**
 * `oci-archive:` images: an OCI image layout as one tar (as skopeo and podman write it), members
 * `oci-layout`, `index.json`, `blobs/`, `blobs/sha256/`, then the blobs in digest order, with
 * normalised headers so the tar is reproducible. Reading keeps only index.json and the small blobs
 * (manifests, configs); layers are skipped, never held in memory.
 */
import { createReadStream, createWriteStream, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { MAX_DOCUMENT_BYTES } from "../node/images/oci-documents.js";
import { ImageError } from "../node/images/image-errors.js";
import { decompress, detectCompression } from "../checkpoint/archive/compression.js";
import { open } from "node:fs/promises";
import { LAYER_MTIME } from "./layer-tar.js";

type TarStream = typeof import("tar-stream");
const tarStream = createRequire(import.meta.url)("tar-stream") as TarStream;

/** Tars the layout directory `layout` into `file`. */
export async function tarLayout(layout: string, file: string): Promise<void> {
  const pack = tarStream.pack();
  const blobs = readdirSync(join(layout, "blobs", "sha256")).filter((n) => !n.endsWith(".tmp")).sort();
  const head = { uid: 0, gid: 0, uname: "", gname: "", mtime: LAYER_MTIME };
  const add = (name: string, path?: string) =>
    new Promise<void>((resolve, reject) => {
      if (!path) return void pack.entry({ ...head, name, type: "directory", mode: 0o755 }, (err) => (err ? reject(err) : resolve()));
      const sink = pack.entry({ ...head, name, type: "file", mode: 0o644, size: statSync(path).size }, (err) => (err ? reject(err) : resolve()));
      createReadStream(path).on("error", reject).pipe(sink);
    });
  const writing = pipeline(pack, createWriteStream(file, { mode: 0o644 }));
  try {
    await add("oci-layout", join(layout, "oci-layout"));
    await add("index.json", join(layout, "index.json"));
    await add("blobs/");
    await add("blobs/sha256/");
    for (const b of blobs) await add(`blobs/sha256/${b}`, join(layout, "blobs", "sha256", b));
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
  }
  await writing;
}

export interface ArchiveDocuments {
  index: Buffer;
  /** Small blobs by digest ("sha256:…"). */
  blobs: Map<string, Buffer>;
}

/** index.json and the blobs small enough to be documents, from an oci-archive tar. */
export async function readArchiveDocuments(file: string): Promise<ArchiveDocuments> {
  const fh = await open(file, "r");
  const head = Buffer.alloc(512);
  const { bytesRead } = await fh.read(head, 0, 512, 0);
  await fh.close();
  const extract = tarStream.extract();
  const input = decompress(createReadStream(file), detectCompression(head.subarray(0, bytesRead)));
  input.on("error", (err) => extract.destroy(err));
  input.pipe(extract);
  let index: Buffer | undefined;
  const blobs = new Map<string, Buffer>();
  try {
    for await (const e of extract as AsyncIterable<AsyncIterable<Buffer> & { header: { name: string; size?: number; type?: string | null }; resume(): void }>) {
      const name = e.header.name.replace(/^(\.\/)+/, "");
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      if ((name === "index.json" || m) && e.header.type === "file" && (e.header.size ?? 0) <= MAX_DOCUMENT_BYTES) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c);
        if (name === "index.json") index = Buffer.concat(chunks);
        else blobs.set(`sha256:${m![1]}`, Buffer.concat(chunks));
      } else e.resume();
    }
  } catch (err) {
    throw new ImageError(`${file}: not a readable OCI archive tar (${(err as Error).message})`);
  }
  if (!index) throw new ImageError(`${file}: no index.json; not an OCI archive`);
  return { index, blobs };
}
