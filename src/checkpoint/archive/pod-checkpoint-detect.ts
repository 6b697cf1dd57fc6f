/**
 * Whether a path is a pod checkpoint rather than one container's: a directory holding
 * pod-checkpoint.json, or a tar (plain, compressed or sealed as a whole) whose first member is it.
 * Only the first bytes are read (decompressed or decrypted as needed), so asking costs little; the
 * manifest itself is read and checked by pod-checkpoint-archive.ts.
 */
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { POD_CHECKPOINT_MANIFEST } from "../layout-names.js";
import { detectSealed } from "../seal/age-format.js";
import { openSealedBytes, type OpenOptions } from "./checkpoint-archive.js";
import { decompress, detectCompression, streamHead } from "./compression.js";
import { checkMemberName } from "./member-policy.js";
import { isZeroBlock, parseHeader, parsePax, TarFormatError } from "./tar-header.js";

/** Enough for the first member's header behind a PAX or GNU long-name header. */
const HEAD_BYTES = 16 << 10;

export async function isPodCheckpoint(path: string, opts: OpenOptions = {}): Promise<boolean> {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st?.isDirectory()) return existsSync(join(path, POD_CHECKPOINT_MANIFEST));
  if (!st?.isFile()) return false;
  const head = readFileHead(path, HEAD_BYTES);
  if (detectSealed(head)) {
    // Without a key the archive reader says what is missing, pod checkpoint or not.
    if (!opts.identities?.()) return false;
    const { compression, open } = await openSealedBytes(path, head, opts);
    return firstMemberName(await streamHead(decompress(open(), compression), HEAD_BYTES)) === POD_CHECKPOINT_MANIFEST;
  }
  const compression = detectCompression(head);
  const tarHead = compression === "none" ? head : await streamHead(decompress(createReadStream(path), compression), HEAD_BYTES).catch(() => Buffer.alloc(0));
  return firstMemberName(tarHead) === POD_CHECKPOINT_MANIFEST;
}

function readFileHead(path: string, n: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(n);
    let got = 0;
    for (let r; got < n && (r = readSync(fd, buf, got, n - got, got)) > 0; ) got += r;
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** The name of the first file or directory of a tar from its first bytes; undefined when they do not tell. */
export function firstMemberName(head: Uint8Array): string | undefined {
  let pos = 0;
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  while (pos + 512 <= head.length) {
    const block = head.subarray(pos, pos + 512);
    if (isZeroBlock(block)) return undefined;
    let h;
    try {
      h = parseHeader(block);
    } catch (err) {
      if (err instanceof TarFormatError) return undefined;
      throw err;
    }
    const data = pos + 512;
    if (h.flag !== "L" && h.flag !== "x" && h.flag !== "g") {
      const checked = checkMemberName(pax.path ?? longName ?? h.name);
      return "name" in checked ? checked.name : undefined;
    }
    if (data + h.size > head.length) return undefined;
    if (h.flag === "L") longName = Buffer.from(head.subarray(data, data + h.size)).toString("utf8").replace(/\0.*$/s, "");
    else if (h.flag === "x") pax = parsePax(head.subarray(data, data + h.size));
    pos = data + Math.ceil(h.size / 512) * 512;
  }
  return undefined;
}
