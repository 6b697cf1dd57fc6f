/**
 * Where a dump's image files come from. The codec reads through this interface only, so that a
 * directory on disk and a member list of an archive (provided by the checkpoint layer) serve alike.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";

export interface ImageFiles {
  /** How to name file `name` in messages: a path, or archive plus member. */
  describe(name: string): string;
  has(name: string): boolean;
  /** Names of the files, without directories. */
  list(): string[];
  size(name: string): number;
  read(name: string): Uint8Array;
  /** `length` bytes at `offset` of a file (page data is read this way, never whole). */
  readRange(name: string, offset: number, length: number): Uint8Array;
  /** The previous dump of an incremental series (the `parent` link), if any. */
  parent(): ImageFiles | undefined;
  close(): void;
}

export class DirectoryFiles implements ImageFiles {
  private readonly fds = new Map<string, number>();

  constructor(readonly path: string) {
    if (!statSync(path).isDirectory()) throw new Error(`${path}: not a directory`);
  }

  describe(name: string): string {
    return join(this.path, name);
  }

  has(name: string): boolean {
    return existsSync(join(this.path, name));
  }

  list(): string[] {
    return readdirSync(this.path).filter((n) => statSync(join(this.path, n)).isFile());
  }

  size(name: string): number {
    return statSync(join(this.path, name)).size;
  }

  read(name: string): Uint8Array {
    return readFileSync(join(this.path, name));
  }

  readRange(name: string, offset: number, length: number): Uint8Array {
    let fd = this.fds.get(name);
    if (fd === undefined) {
      fd = openSync(join(this.path, name), "r");
      this.fds.set(name, fd);
    }
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new RangeError(`${this.describe(name)}: ends at ${offset + done} (${fstatSync(fd).size} bytes), reading ${length} at ${offset}`);
      done += n;
    }
    return out;
  }

  parent(): ImageFiles | undefined {
    const link = join(this.path, "parent");
    return existsSync(link) ? new DirectoryFiles(realpathSync(link)) : undefined;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
