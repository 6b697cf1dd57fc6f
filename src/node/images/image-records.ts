/**
 * What the store knows about each image it has resolved: one JSON file per normalised name under
 * `images/`, written atomically, read back through a schema (it is on disk, so it is a boundary).
 */
import { createHash } from "node:crypto";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ImageError } from "./image-errors.js";
import { parseDocument } from "./oci-documents.js";
import { writeFileAtomic } from "./store-files.js";

export const ImageRecord = z.object({
  version: z.literal(1),
  name: z.string(),
  /** The digest the reference resolved to: the index for a multi-platform image, else the manifest. */
  digest: z.string(),
  /** The platform's image manifest. */
  manifestDigest: z.string(),
  configDigest: z.string(),
  repoDigest: z.string().optional(),
  layers: z.array(z.object({ digest: z.string(), diffId: z.string(), mediaType: z.string(), size: z.number() })),
  process: z.object({
    entrypoint: z.array(z.string()),
    cmd: z.array(z.string()),
    env: z.array(z.string()),
    workingDir: z.string(),
    user: z.string(),
  }),
  /** ISO 8601: when this record was last written by a pull. */
  pulledAt: z.string(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

export class ImageRecords {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
  ) {}

  private file(name: string): string {
    // Names hold "/" and ":"; a hash is a safe file name of fixed length.
    return join(this.dir, `${createHash("sha256").update(name).digest("hex")}.json`);
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    const file = this.file(name);
    const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!bytes) return undefined;
    const record = parseDocument(ImageRecord, bytes, file);
    if (record.name !== name) throw new ImageError(`${file}: holds ${record.name}, not ${name}`);
    return record;
  }

  async put(record: ImageRecord): Promise<void> {
    await writeFileAtomic(this.tmpDir, this.file(record.name), Buffer.from(JSON.stringify(record, null, 2) + "\n"));
  }

  async remove(name: string): Promise<void> {
    await rm(this.file(name), { force: true });
  }

  async all(): Promise<ImageRecord[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[];
      throw err;
    });
    const records: ImageRecord[] = [];
    for (const n of names.filter((n) => n.endsWith(".json")).sort()) {
      records.push(parseDocument(ImageRecord, await readFile(join(this.dir, n)), join(this.dir, n)));
    }
    return records;
  }
}
