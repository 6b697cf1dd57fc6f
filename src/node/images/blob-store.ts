/**
 * The content-addressed blob cache: `blobs/sha256/<hex>`, each file verified against its digest and
 * size while it streamed in, never held in memory whole. A blob is either absent or complete.
 */
import { constants } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DigestVerifier, digestHex } from "./digest.js";
import { ImageError } from "./image-errors.js";
import { SingleFlight } from "./single-flight.js";
import { tempPath, writeFileAtomic } from "./store-files.js";

export class BlobStore {
  private readonly flights = new SingleFlight<string>();

  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
  ) {}

  path(digest: string): string {
    return join(this.dir, "sha256", digestHex(digest, "blob store"));
  }

  async has(digest: string): Promise<boolean> {
    return (await stat(this.path(digest)).catch(() => undefined))?.isFile() ?? false;
  }

  /**
   * The blob's path, fetched with `open` when it is not cached yet. Concurrent calls for one digest
   * share one download.
   */
  ensure(descriptor: { digest: string; size: number }, open: () => Promise<{ stream: Readable; where: string }>, signal?: AbortSignal): Promise<string> {
    const path = this.path(descriptor.digest);
    return this.flights.run(descriptor.digest, async () => {
      const existing = await stat(path).catch(() => undefined);
      if (existing?.isFile() && existing.size === descriptor.size) return path;
      const { stream, where } = await open();
      await this.write(descriptor, stream, where, path, signal);
      return path;
    });
  }

  /** Stores bytes already verified by the caller (a manifest read whole). */
  async putVerified(digest: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(digest);
    if (await this.has(digest)) return;
    await writeFileAtomic(this.tmpDir, path, bytes);
  }

  private async write(descriptor: { digest: string; size: number }, stream: Readable, where: string, path: string, signal?: AbortSignal): Promise<void> {
    const tmp = tempPath(this.tmpDir, `blob-${digestHex(descriptor.digest, where).slice(0, 12)}`);
    const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    try {
      try {
        await pipeline(
          stream,
          new DigestVerifier(descriptor, where),
          async (verified: AsyncIterable<Buffer>) => {
            for await (const chunk of verified) await file.write(chunk);
          },
          { signal },
        );
        await file.sync();
      } finally {
        await file.close();
      }
      await mkdir(join(this.dir, "sha256"), { recursive: true });
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof ImageError || signal?.aborted) throw err;
      throw new ImageError(`blob ${descriptor.digest} from ${where}: ${(err as Error).message}`, { cause: err });
    }
  }
}
