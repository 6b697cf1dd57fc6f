/**
 * A CRIU image directory: images decoded on first use and kept. Image files are small (pages are raw
 * and are read by range, see memory.ts), so an image is read whole; its entries are also available
 * as a stream for callers that want to stop early.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { readEntries, type ImageEntry } from "./image-file.js";
import { DirectoryFiles, type ImageFiles } from "./image-files.js";
import { rawImageKind } from "./raw-images.js";
import type { WireMessage } from "./wire-reader.js";

/** The protobuf images of a directory, sorted, and apart from them its raw images (pages, tmpfs…). */
export function listImageFiles(dir: string): { images: string[]; raw: string[] } {
  const images: string[] = [];
  const raw: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const isImageName = name.endsWith(".img") || /^(stats-(dump|restore)|irmap-cache)$/.test(name);
    if (!isImageName || !statSync(join(dir, name)).isFile()) continue;
    (rawImageKind(name) ? raw : images).push(name);
  }
  return { images, raw };
}

export class ImageDir {
  private readonly cache = new Map<string, WireMessage[]>();
  readonly files: ImageFiles;

  /** A directory path, or image files from elsewhere (an archive). */
  constructor(source: string | ImageFiles) {
    this.files = typeof source === "string" ? new DirectoryFiles(source) : source;
  }

  /** The name of an image for messages (its path, or archive and member). */
  file(name: string): string {
    return this.files.describe(name);
  }

  has(name: string): boolean {
    return this.files.has(name);
  }

  /** The entries of an image; CRIU leaves out images it had nothing to write to, so absent is empty. */
  entries(name: string): WireMessage[] {
    let entries = this.cache.get(name);
    if (!entries) {
      entries = this.has(name) ? [...this.stream(name)].map((e) => e.message) : [];
      this.cache.set(name, entries);
    }
    return entries;
  }

  /** The single entry of a one-entry image (core, mm, ids, fs…), or undefined when the image is absent. */
  one(name: string): WireMessage | undefined {
    return this.entries(name)[0];
  }

  *stream(name: string): Generator<ImageEntry> {
    yield* readEntries(this.files.read(name), this.file(name));
  }

  /** The previous dump of an incremental series (the `parent` link), if any. */
  parent(): ImageDir | undefined {
    const parent = this.files.parent();
    return parent ? new ImageDir(parent) : undefined;
  }

  close(): void {
    this.files.close();
  }
}
