/**
 * fs.pipe-max-size for lazy migrations. A lazy dump's page server asks for a 4 MiB pipe; without
 * CAP_SYS_RESOURCE it only gets one up to this sysctl (1 MiB by default), fails every page it sends
 * with "page-pipe: splice: Bad file descriptor", and the migration fails. The node raises the
 * sysctl while a lazy migration needs it and puts the old value back when the last one ends.
 * The sysctl is the machine's, not the agent's, so the value is put back only when nobody changed
 * it in between.
 */
import { readFileSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { LAZY_PIPE_BYTES, PIPE_MAX_SIZE } from "../checkpoint/host-checks.js";

export async function readPipeMaxSize(path = PIPE_MAX_SIZE): Promise<number | undefined> {
  const text = await readFile(path, "utf8").catch(() => undefined);
  const n = Number(text?.trim());
  return text === undefined || !Number.isInteger(n) ? undefined : n;
}

export class PipeMaxSize {
  private holders = 0;
  /** The value found before raising it, while raised. */
  private raisedFrom: number | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * `record`: a file of the agent's that keeps the value found while it is raised, so that an
   * agent that died holding it puts it back when it starts again.
   */
  constructor(
    private readonly log: (event: Record<string, unknown>) => void,
    private readonly record?: string,
    private readonly path = PIPE_MAX_SIZE,
  ) {
    const left = record === undefined ? undefined : Number(readFileSafe(record));
    if (left !== undefined && Number.isInteger(left) && left > 0) {
      this.raisedFrom = left;
      this.queue = this.release(false);
    }
  }

  /** Makes the sysctl at least 4 MiB until the returned release is called (once). */
  hold(): Promise<() => Promise<void>> {
    return this.serial(async () => {
      if (this.holders === 0) {
        const now = await readPipeMaxSize(this.path);
        if (now === undefined) throw new Error(`cannot read ${this.path}`);
        if (now < LAZY_PIPE_BYTES) {
          await writeFile(this.path, String(LAZY_PIPE_BYTES)).catch((err: Error) => {
            throw new Error(`raising ${this.path} to ${LAZY_PIPE_BYTES} (a lazy migration needs it): ${err.message}`);
          });
          this.raisedFrom = now;
          if (this.record) await writeFile(this.record, `${now}\n`, { mode: 0o600 });
          this.log({ msg: "fs.pipe-max-size raised for a lazy migration", from: now, to: LAZY_PIPE_BYTES });
        }
      }
      this.holders++;
      let released = false;
      return () => {
        if (released) return Promise.resolve();
        released = true;
        return this.serial(() => this.release());
      };
    });
  }

  private async release(held = true): Promise<void> {
    if (held) this.holders--;
    if (this.holders > 0 || this.raisedFrom === undefined) return;
    const from = this.raisedFrom;
    this.raisedFrom = undefined;
    if (this.record) await rm(this.record, { force: true });
    const now = await readPipeMaxSize(this.path);
    if (now !== LAZY_PIPE_BYTES) {
      this.log({ msg: "fs.pipe-max-size left as it is: changed by someone else during the lazy migration", value: now, wasBefore: from });
      return;
    }
    try {
      await writeFile(this.path, String(from));
      this.log({ msg: "fs.pipe-max-size put back after a lazy migration", from: LAZY_PIPE_BYTES, to: from });
    } catch (err) {
      this.log({ msg: "putting fs.pipe-max-size back failed", to: from, error: (err as Error).message });
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

function readFileSafe(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
