/**
 * Helper of bench/archive.ts, run in its own process: `node --import tsx bench/archive-build.ts
 * IMAGES_DIR OUT none|gzip` writes a CRI-O archive of the image directory with compatPagemaps
 * (test/support/archives.ts). buildArchive holds the whole tar in memory (GiBs for the big dump); in
 * the bench's own process that memory would stay mapped and make every later spawn ~0.1 s slower
 * (fork copies the page tables), which would be counted in every timing.
 */
import { buildArchive } from "../test/support/archives.ts";

const [imagesDir, out, compression] = process.argv.slice(2);
if (!imagesDir || !out || (compression !== "none" && compression !== "gzip")) {
  console.error("usage: archive-build.ts IMAGES_DIR OUT none|gzip");
  process.exit(2);
}
await buildArchive({ layout: "crio", imagesDir, out, compression, compatPagemaps: true });
