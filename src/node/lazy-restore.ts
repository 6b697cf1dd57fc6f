/**
 * The target side of a lazy (post-copy) migration of one container. The checkpoint without its
 * memory pages comes from the source node (GET /migrations/ID/archive) while this node makes the
 * pod's sandbox; as soon as it is in, its images are written out, CRIU's lazy-pages daemon started
 * on them and its page-server connection carried to the source node over an upgraded HTTPS
 * connection (GET /migrations/ID/pages), while the runtime prepares the container; the runtime then
 * runs `runc restore --lazy-pages` in the daemon's work directory (pod-runtime.ts). The daemon asks
 * for each page on first touch and for the others in the background, and ends once every page is in.
 *
 * The source's container is ended by the daemon's close request alone (lazy-dump.ts), so it is let
 * through only while the restored copy runs: a copy that died leaves the source to run again. When
 * the connection breaks first, the copy is frozen and killed before the daemon learns of it: a
 * daemon that ends gives up the copy's userfaultfds, and the copy would read zeros where pages never
 * came. For the same reason the daemon's connection is held by a process of its own should the
 * agent die: the copy then waits for its pages until the restarted agent removes it.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { Transform } from "node:stream";
import { Checkpoint } from "../checkpoint/checkpoint.js";
import { LAZY_TOKEN_HEADER, PAGES_PROTOCOL, type LazyTransfer } from "../kubelet-endpoint/lazy-migration-api.js";
import { pageRanges, PE_LAZY, type ImageDir } from "../criu-images/index.js";
import type { PeerClient } from "../node-client/peer-client.js";
import { writeImages } from "./container-restore.js";
import { startLazyPagesDaemon, type LazyPagesDaemon } from "./lazy-pages-daemon.js";
import { holdWhileAlive, type SocketHolder } from "./socket-holder.js";
import { AnswerCounter, isCloseRequest, RequestFramer } from "./page-server-stream.js";

/** The restored container, as the transfer needs it. */
export interface RestoredCopy {
  running(): Promise<boolean>;
  /** Freezes it, then kills it: not one instruction runs after. */
  kill(): Promise<void>;
}

/** Where a lazily restored container's checkpoint and pages come from (what the runtime calls). */
export interface LazySource {
  /** The checkpoint without its memory pages (a CRI-O archive), as a file on this node. */
  archive(): Promise<string>;
  /** Once the lazy-pages daemon serves: its images and work directory, where `runc restore --lazy-pages` must run. */
  daemon(): Promise<{ images: string; work: string }>;
  /** The restored container, to be killed should the transfer break. */
  attach(copy: RestoredCopy): void;
}

/** Pages a lazy dump left out of its images, for the transfer to bring. */
export function lazyPageCount(images: ImageDir): number {
  let pages = 0;
  for (const name of images.files.list()) {
    if (!/^pagemap-\d+\.img$/.test(name)) continue;
    for (const r of pageRanges(images.entries(name)).ranges) if (r.flags & PE_LAZY) pages += r.pages;
  }
  return pages;
}

export interface LazyRestoreOptions {
  peer: PeerClient;
  container: string;
  /** The source's migration id and one-time token. */
  id: string;
  token: string;
  /** A new directory for the archive, its images and the daemon's work (removed when the transfer ends). */
  dir: string;
  criu: string;
  log: (event: Record<string, unknown>) => void;
  /** Told when the transfer failed and the copy was killed. */
  onFailed: (why: string) => void;
}

export class LazyRestore implements LazySource {
  private state: LazyTransfer["state"] = "restoring";
  private error: string | undefined;
  private totalPages = 0;
  private readonly answers = new AnswerCounter();
  private openedAt: number | undefined;
  private endedAt: number | undefined;
  private connection: Duplex | undefined;
  private lazyPages: LazyPagesDaemon | undefined;
  private holder: SocketHolder | undefined;
  private copy: RestoredCopy | undefined;
  private closeForwarded = false;
  private fetched: Promise<void> | undefined;
  private serving: Promise<void> | undefined;
  private settle!: () => void;
  /** Settles when the transfer is done or failed (the directory then removed). */
  readonly ended = new Promise<void>((resolve) => (this.settle = resolve)).then(async () => {
    this.holder?.release();
    await rm(this.o.dir, { recursive: true, force: true });
  });

  constructor(private readonly o: LazyRestoreOptions) {}

  private get archivePath(): string {
    return join(this.o.dir, "checkpoint.tar");
  }

  status(): LazyTransfer {
    const until = this.endedAt ?? performance.now();
    return {
      container: this.o.container,
      state: this.state,
      ...(this.error !== undefined ? { error: this.error } : {}),
      pages: this.answers.pages,
      totalPages: this.totalPages,
      bytes: this.answers.bytes,
      ms: this.openedAt === undefined ? 0 : Math.round(until - this.openedAt),
    };
  }

  /**
   * Starts it all: the archive fetched (the source writes it while this node makes the pod's
   * sandbox), then its images written out and the daemon started and connected to the source.
   */
  start(): void {
    if (this.fetched) return;
    this.fetched = (async () => {
      await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
      await this.o.peer.download(`/migrations/${this.o.id}/archive`, { [LAZY_TOKEN_HEADER]: this.o.token }, this.archivePath);
    })();
    this.serving = this.fetched.then(() => this.serve());
    this.fetched.catch(() => undefined);
    this.serving.catch(() => undefined);
  }

  async archive(): Promise<string> {
    this.start();
    await this.fetched;
    return this.archivePath;
  }

  async daemon(): Promise<{ images: string; work: string }> {
    this.start();
    await this.serving;
    return { images: join(this.o.dir, "images"), work: join(this.o.dir, "work") };
  }

  attach(copy: RestoredCopy): void {
    this.copy = copy;
  }

  private async serve(): Promise<void> {
    const images = join(this.o.dir, "images");
    const cp = await Checkpoint.open(this.archivePath);
    try {
      this.totalPages = lazyPageCount(cp.images);
      await writeImages({ archive: this.archivePath, checkpoint: cp }, images);
    } finally {
      cp.close();
    }
    const work = join(this.o.dir, "work");
    await mkdir(work, { recursive: true, mode: 0o700 });
    const [daemon, connection] = await Promise.allSettled([
      startLazyPagesDaemon(this.o.criu, images, work),
      this.o.peer.upgrade(`/migrations/${this.o.id}/pages`, { [LAZY_TOKEN_HEADER]: this.o.token }, PAGES_PROTOCOL),
    ]);
    // Kept before anything else, so that a failure (now, or one that came meanwhile) ends both.
    if (daemon.status === "fulfilled") {
      this.lazyPages = daemon.value;
      this.holder = holdWhileAlive(daemon.value.pages, daemon.value.pid);
    }
    if (connection.status === "fulfilled") this.connection = connection.value;
    const failed = [daemon, connection].find((r) => r.status === "rejected");
    if (failed) await this.fail((failed.reason as Error).message);
    if (this.state === "failed") {
      this.lazyPages?.kill();
      this.connection?.destroy();
      throw new Error(this.error);
    }
    this.carry(this.lazyPages!, this.connection!);
  }

  /** The daemon's requests to the source and the pages back; a close request only while the copy runs. */
  private carry(daemon: LazyPagesDaemon, connection: Duplex): void {
    this.openedAt = performance.now();
    this.state = "transferring";
    connection.on("data", (chunk: Buffer) => this.answers.push(chunk));
    connection.pipe(daemon.pages, { end: false });
    const framer = new RequestFramer();
    const requests = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        void (async () => {
          for (const r of framer.push(chunk)) {
            if (isCloseRequest(r)) {
              if (!(await this.copy?.running())) return done(new Error("the restored container is not running: the source keeps its container"));
              this.closeForwarded = true;
            }
            requests.push(r);
          }
          done();
        })();
      },
    });
    daemon.pages.pipe(requests).pipe(connection);
    requests.on("error", (err) => connection.destroy(err));
    daemon.pages.on("error", () => undefined);
    connection.on("error", () => undefined);
    connection.once("close", () => {
      if (!this.closeForwarded) void this.fail("the page connection to the source broke");
    });
    void daemon.exited.then(async (r) => {
      if (r.ok && this.closeForwarded) return this.done();
      await this.fail(r.ok ? "the lazy-pages daemon ended before every page was in" : `criu lazy-pages: ${r.message}`);
    });
  }

  private done(): void {
    if (this.state !== "transferring") return;
    this.state = "done";
    this.endedAt = performance.now();
    this.connection?.end();
    this.o.log({ msg: "lazy migration: every page is in", id: this.o.id, ...this.status() });
    this.settle();
  }

  /** The copy frozen and killed first, then the daemon and the connection ended. */
  async fail(why: string): Promise<void> {
    if (this.state === "done" || this.state === "failed") return;
    this.state = "failed";
    this.error = why;
    this.endedAt = performance.now();
    await this.copy?.kill().catch(() => undefined);
    this.lazyPages?.kill();
    this.connection?.destroy();
    this.o.log({ msg: "lazy migration failed: the restored copy was killed", id: this.o.id, ...this.status() });
    this.o.onFailed(why);
    this.settle();
  }
}
