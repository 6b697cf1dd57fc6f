/**
 * The source side of a lazy (post-copy) migration of one container. The container is paused, its
 * file changes taken and everything but its memory pages dumped (`runc checkpoint --lazy-pages`);
 * the result is written as a small CRI-O archive for the target. From then on the container stays
 * frozen while CRIU serves its pages over a connection the target opens through the node's HTTPS
 * endpoint; when every page has been served, runc destroys the container here.
 *
 * What CRIU 4.2 does when the page connection ends (measured, see page-server-stream.ts): a close
 * request from the target's lazy-pages daemon ends the transfer and the source's tasks are killed;
 * a request it does not know fails the transfer and the tasks run again, memory untouched (pages
 * are only ever copied out), but behind CRIU's network lock if it took one (a lazy dump takes none
 * unless the pod's established connections are dumped); a plain end of the connection counts as a
 * finished transfer. So the agent carries the target's requests whole, lets a close request
 * through only as the target sends it (the target sends it only when its copy runs with every page,
 * see lazy-restore.ts), and answers any other end, a timeout or a cancel with an unknown request.
 * A process that holds a copy of the agent's end keeps a crash of the agent from looking like the
 * end of the transfer: CRIU then waits, frozen, until the restarted agent kills it, which resumes
 * the tasks too. After a failure any network lock is lifted and the container resumed.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Socket } from "node:net";
import { Transform, type Duplex, type Readable } from "node:stream";
import { bindMountsOf } from "../checkpoint/writer/index.js";
import type { LazyDumpStatus } from "../kubelet-endpoint/lazy-migration-api.js";
import { containerRootfsDiff, crioArchiveInput, resume, withCriuError, type ContainerCapture } from "./container-capture.js";
import { writeCrioArchive } from "../checkpoint/writer/index.js";
import { criuLogError } from "./criu-log.js";
import { removeCriuNetworkLock } from "./criu-network-lock.js";
import type { ContainerRecord, PodRecord } from "./node-state.js";
import { failingRequest, isCloseRequest, RequestFramer } from "./page-server-stream.js";
import type { PipeMaxSize } from "./pipe-max-size.js";
import { netnsPath } from "./pod-network.js";
import { memoryUsage, type PodRuntime } from "./pod-runtime.js";
import { LAZY_PAGE_SOCKET_FD, type LazyCheckpoint } from "./runc.js";
import { holdWhileAlive, type SocketHolder } from "./socket-holder.js";
import { stepTimer } from "./step-timer.js";

export interface LazyDumpOptions {
  runtime: PodRuntime;
  pod: PodRecord;
  container: ContainerRecord;
  tcpEstablished: boolean;
  /** How long the dump may take, and the target then to open the page connection. */
  timeoutSeconds: number;
  pipeMaxSize: PipeMaxSize;
  log: (event: Record<string, unknown>) => void;
  /** Told once the migration is over: moved (the container is gone from this node) or not. */
  onEnd: (moved: boolean) => void;
}

/** A page connection with no traffic this long, pages still due, has stalled. */
const STALL_MS = 30_000;
/** After a failing request, CRIU resumes the tasks at once; past this it is killed instead. */
const FAIL_GRACE_MS = 15_000;

const digest = (s: string) => createHash("sha256").update(s).digest();

export class LazyDump {
  readonly id = randomBytes(16).toString("hex");
  private readonly tokenDigest: Buffer;
  readonly token = randomBytes(32).toString("base64url");
  private state: LazyDumpStatus["state"] = "dumping";
  private error: string | undefined;
  private resumed: boolean | undefined;
  private archive: { path: string; bytes: number } | undefined;
  private pageBytes = 0;
  private readonly durations: Record<string, number> = {};
  private readonly claimed = new Set<"archive" | "pages">();
  private lazy: LazyCheckpoint | undefined;
  private holder: SocketHolder | undefined;
  private connection: Duplex | undefined;
  /** The target's close request went through: the end of the connection is the end of the transfer. */
  private closing = false;
  private failing = false;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Settles once the archive is written (or the dump failed). */
  readonly ready: Promise<void>;
  /** Settles once the migration is over on this node and everything is cleaned up. */
  readonly ended: Promise<void>;

  constructor(private readonly o: LazyDumpOptions) {
    this.tokenDigest = digest(this.token);
    let readyDone!: () => void;
    let readyFailed!: (err: Error) => void;
    this.ready = new Promise<void>((res, rej) => ((readyDone = res), (readyFailed = rej)));
    this.ready.catch(() => undefined);
    this.ended = this.run(readyDone, readyFailed);
  }

  get target(): string {
    const m = this.o.pod.manifest.metadata;
    return `${m.namespace}/${m.name}/${this.o.container.name}`;
  }

  status(): LazyDumpStatus {
    return {
      id: this.id,
      target: this.target,
      state: this.state,
      ...(this.error !== undefined ? { error: this.error } : {}),
      ...(this.resumed !== undefined ? { resumed: this.resumed } : {}),
      ...(this.archive ? { archiveBytes: this.archive.bytes } : {}),
      pageBytes: this.pageBytes,
      durations: this.durations,
    };
  }

  /** True once per use, for the right token (compared in constant time). */
  admit(token: string, use: "archive" | "pages"): boolean {
    if (this.claimed.has(use) || !timingSafeEqual(digest(token), this.tokenDigest)) return false;
    this.claimed.add(use);
    return true;
  }

  /** The archive (everything but the memory pages) once dumped. */
  async archiveStream(): Promise<{ stream: Readable; bytes: number }> {
    await this.ready;
    if (!this.archive || this.state !== "serving") throw new Error(`the dump of ${this.target} is ${this.state}${this.error ? `: ${this.error}` : ""}`);
    return { stream: createReadStream(this.archive.path), bytes: this.archive.bytes };
  }

  /** Carries the target's page connection to CRIU's page server, and back. */
  carryPages(connection: Duplex): void {
    const lazy = this.lazy;
    if (!lazy || this.state !== "serving" || this.connection) {
      connection.destroy();
      return;
    }
    clearTimeout(this.connectTimer);
    this.connection = connection;
    this.o.log({ msg: "lazy migration: the target's page connection is open", target: this.target, id: this.id });
    const framer = new RequestFramer();
    // Whole requests only, so that a failing request never lands inside one.
    const requests = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        for (const r of framer.push(chunk)) {
          if (isCloseRequest(r)) this.closing = true;
          requests.push(r);
        }
        done();
      },
    });
    connection.pipe(requests).pipe(lazy.pages, { end: false });
    lazy.pages.on("data", (chunk: Buffer) => (this.pageBytes += chunk.length));
    lazy.pages.pipe(connection);
    (connection as Partial<Socket>).setTimeout?.(STALL_MS, () => connection.destroy(new Error(`no traffic for ${STALL_MS / 1000} s`)));
    const ended = (err?: Error) => {
      connection.unpipe(requests);
      requests.unpipe(lazy.pages);
      lazy.pages.unpipe(connection);
      // CRIU blocks when its answers are not read: from now on they go nowhere.
      lazy.pages.resume();
      if (!this.closing) void this.fail(`the page connection to the target broke${err ? ` (${err.message})` : ""}`);
    };
    connection.once("error", ended);
    connection.once("close", () => ended());
  }

  /** Calls the migration off unless every page was served; resolves once it is over here. */
  async cancel(reason: string): Promise<LazyDumpStatus> {
    await this.ready.catch(() => undefined);
    if (this.state === "serving" && !this.closing) await this.fail(reason);
    await this.ended;
    return this.status();
  }

  /** Makes CRIU fail the transfer (the tasks resume), or kills it when it does not. */
  private async fail(reason: string): Promise<void> {
    const lazy = this.lazy;
    if (!lazy || this.failing) return;
    this.failing = true;
    this.error ??= reason;
    this.o.log({ msg: "lazy migration: failing the page transfer, the source resumes", target: this.target, id: this.id, reason });
    this.connection?.destroy();
    lazy.pages.write(failingRequest());
    const timer = setTimeout(() => lazy.kill(), FAIL_GRACE_MS);
    await lazy.exited;
    clearTimeout(timer);
  }

  private async run(readyDone: () => void, readyFailed: (err: Error) => void): Promise<void> {
    const { runtime, pod, container } = this.o;
    const id = container.id;
    const steps = stepTimer();
    const memory = await memoryUsage(pod.uid, id);
    const work = await mkdtemp(join(runtime.checkpointWorkBase(memory), `${id.slice(0, 12)}-lazy-`));
    let releasePipes: (() => Promise<void>) | undefined;
    let paused = false;
    try {
      try {
        if (!runtime.shimAlive(id)) throw new Error(`container ${container.name} is not running`);
        releasePipes = await this.o.pipeMaxSize.hold();
        const spec = runtime.bundleSpec(id);
        const bindMounts = await bindMountsOf(spec);
        const criuConfig = join(work, "criu-lazy.conf");
        // No network lock unless connections are dumped: the pod's address changes with the move,
        // and a source that runs on after a failed transfer needs none lifted (CRIU would leave it).
        const lock = this.o.tcpEstablished ? "" : "network-lock skip\n";
        await writeFile(criuConfig, `ps-socket ${LAZY_PAGE_SOCKET_FD}\n${lock}`, { mode: 0o600 });
        const cap: ContainerCapture = { container, work, imagesDir: join(work, "checkpoint"), spec, bindMounts };
        steps.mark("prepare");
        await runtime.runc.pause(id);
        paused = true;
        const logBytes = await stat(container.logPath).then((s) => s.size, () => undefined);
        steps.mark("pause");
        const deadline = setTimeout(() => this.lazy?.kill(), this.o.timeoutSeconds * 1000);
        const [diff, dump] = await Promise.allSettled([
          containerRootfsDiff(runtime, cap),
          (async () => {
            this.lazy = await runtime.runc.startLazyCheckpoint(id, {
              imagePath: join(work, "checkpoint"),
              workPath: work,
              criuConfig,
              tcpEstablished: this.o.tcpEstablished,
            });
            // Written to after CRIU may have gone (a failing request): nothing to report then.
            this.lazy.pages.on("error", () => undefined);
            this.holder = holdWhileAlive(this.lazy.pages, this.lazy.pid);
            await this.lazy.ready;
          })(),
        ]);
        clearTimeout(deadline);
        if (dump.status === "rejected") throw await withCriuError(dump.reason, join(work, "dump.log"));
        if (diff.status === "rejected") throw diff.reason;
        steps.mark("dump");
        this.archive = await writeCrioArchive(join(work, "lazy-checkpoint.tar"), crioArchiveInput(cap, { diff: diff.value, logBytes }, { statsDump: false }));
        steps.mark("archive");
        Object.assign(this.durations, steps.done());
        this.state = "serving";
        this.o.log({ msg: "lazy migration: dumped all but the memory pages, serving them", target: this.target, id: this.id, archiveBytes: this.archive.bytes, ...this.durations });
        this.connectTimer = setTimeout(() => void this.fail(`the target did not open the page connection within ${this.o.timeoutSeconds} s`), this.o.timeoutSeconds * 1000);
        readyDone();
      } catch (err) {
        this.error = (err as Error).message;
        readyFailed(err as Error);
        // A dump that got as far as serving is failed in CRIU's terms; one that did not has ended.
        if (this.lazy) await this.fail(this.error);
      }
      const end = this.lazy ? await this.lazy.exited : { ok: false, message: this.error ?? "" };
      clearTimeout(this.connectTimer);
      if (end.ok && !this.failing) {
        this.state = "moved";
        this.o.log({ msg: "lazy migration: every page served, the container is gone from this node", target: this.target, id: this.id, pageBytes: this.pageBytes });
        this.o.onEnd(true);
        return;
      }
      this.state = "failed";
      if (!this.error) {
        const why = criuLogError(await readFile(join(work, "dump.log"), "utf8").catch(() => ""));
        this.error = `${end.message}${why ? `; CRIU: ${why}` : ""}`;
      }
      await this.runAgain(paused);
      this.o.onEnd(false);
    } finally {
      this.holder?.release();
      await releasePipes?.();
      await rm(work, { recursive: true, force: true });
    }
  }

  /** After a failed transfer: the network lock lifted and the container resumed. */
  private async runAgain(paused: boolean): Promise<void> {
    const { runtime, pod, container } = this.o;
    try {
      if (this.lazy && (await removeCriuNetworkLock(netnsPath(pod.sandbox.netns)))) {
        this.o.log({ msg: "lazy migration: CRIU's network lock lifted", target: this.target });
      }
    } catch (err) {
      this.o.log({ msg: "lazy migration: lifting CRIU's network lock failed", target: this.target, error: (err as Error).message });
    }
    if (paused) await resume(runtime, container.id);
    const st = await runtime.state(container.id);
    this.resumed = st?.status === "running";
    this.o.log({ msg: "lazy migration failed; the source runs on", target: this.target, id: this.id, error: this.error, resumed: this.resumed });
  }
}
