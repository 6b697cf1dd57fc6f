/**
 * A client of the Kubernetes Container Runtime Interface (CRI, package runtime.v1) over gRPC on a
 * unix socket, as the kubelet and crictl speak it: @grpc/grpc-js with the subset of the CRI API in
 * runtime-v1.proto (loaded by @grpc/proto-loader). Field names are camelCase, 64-bit integers
 * strings (nanosecond timestamps do not fit a double), enums their names.
 *
 * Every call has a deadline; every failure is a CriError whose message is one line naming the call,
 * the gRPC status and what the runtime said.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type * as T from "./types.js";

export type * from "./types.js";

export const PROTO_FILE = "runtime-v1.proto";
/** Tried in this order when neither an endpoint nor CONTAINER_RUNTIME_ENDPOINT is given (as crictl does). */
export const DEFAULT_ENDPOINTS = ["unix:///run/containerd/containerd.sock", "unix:///run/crio/crio.sock", "unix:///var/run/cri-dockerd.sock"];
/** Deadline of a call that does not say otherwise. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** How much earlier than our own deadline the runtime's copy of it may fire (clocks and timers drift). */
const DEADLINE_SLACK_MS = 500;

export class CriError extends Error {
  override name = "CriError";
  constructor(
    message: string,
    /** The gRPC status name (UNAVAILABLE, NOT_FOUND, DEADLINE_EXCEEDED…), or "INVALID_ENDPOINT". */
    readonly status: string,
  ) {
    super(message);
  }
}

/**
 * A .proto file of src/cri: beside this module when run from source, else in the package's src/cri
 * (dist/src/cri and the bundled dist/cli are below the package root; the package ships src/).
 */
export function protoPath(from = fileURLToPath(import.meta.url), file = PROTO_FILE): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    for (const candidate of [join(dir, file), join(dir, "src", "cri", file)]) if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`cannot find ${file} above ${from}`);
  }
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * The endpoint to use, as crictl picks it: the one given, else CONTAINER_RUNTIME_ENDPOINT, else the
 * first default whose socket exists. A bare path means a unix socket.
 */
export function resolveEndpoint(endpoint?: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = endpoint || env.CONTAINER_RUNTIME_ENDPOINT;
  if (!given) {
    const found = DEFAULT_ENDPOINTS.find((e) => isSocket(e.slice("unix://".length)));
    if (!found) throw new CriError(`no CRI runtime endpoint given (--runtime-endpoint or CONTAINER_RUNTIME_ENDPOINT) and none of ${DEFAULT_ENDPOINTS.join(", ")} exists`, "INVALID_ENDPOINT");
    return found;
  }
  if (given.startsWith("/")) return `unix://${given}`;
  if (!/^unix:\/\/\/./.test(given)) throw new CriError(`${given}: not a CRI endpoint (expected unix:///path/to/socket)`, "INVALID_ENDPOINT");
  return given;
}

type Callback<R> = (err: grpc.ServiceError | null, res?: R) => void;
type UnaryMethod = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<unknown>) => grpc.ClientUnaryCall;

/**
 * One unary call with a deadline; a failure is a CriError whose one-line message starts with
 * `what` (the service's name for it and the endpoint).
 */
export function unaryCall<Res>(client: grpc.Client, method: string, req: object, timeoutMs: number, what: string, metadata = new grpc.Metadata()): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method]!;
  return new Promise<Res>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    fn.call(client, req, metadata, { deadline }, (err, res) => {
      if (!err) return resolve(res as Res);
      let status = grpc.status[err.code] ?? String(err.code);
      let details = err.details || err.message;
      // The runtime learns our deadline from the grpc-timeout header and, when its timer fires
      // before ours, resets the stream: grpc-js then reports CANCELLED. These clients never
      // cancel a call, so a cancel at the deadline is the deadline.
      if (err.code === grpc.status.CANCELLED && Date.now() >= deadline - DEADLINE_SLACK_MS) {
        status = "DEADLINE_EXCEEDED";
        details = `deadline of ${timeoutMs} ms passed (the runtime ended the call)`;
      }
      reject(new CriError(`${what}: ${status}: ${oneLine(details)}`, status));
    });
  });
}

let services: { runtime: grpc.ServiceClientConstructor; image: grpc.ServiceClientConstructor } | undefined;

function loadServices() {
  if (!services) {
    const definition = protoLoader.loadSync(protoPath(), { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor; ImageService: grpc.ServiceClientConstructor } } };
    services = { runtime: pkg.runtime.v1.RuntimeService, image: pkg.runtime.v1.ImageService };
  }
  return services;
}

/** One line: gRPC details may hold newlines (a runtime's wrapped errors). */
function oneLine(s: string): string {
  // grpc-js ends an UNAVAILABLE's details with an empty "Resolution note:" for unix sockets.
  return s
    .replace(/\s*\n\s*/g, "; ")
    .replace(/\s*Resolution note:\s*$/, "")
    .trim();
}

export interface CriClientOptions {
  /** Default: resolveEndpoint(). */
  endpoint?: string;
  /** Deadline of each call, in ms (default 30 s); a call may give its own. */
  timeoutMs?: number;
}

export class CriClient {
  readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;

  constructor(opts: CriClientOptions = {}) {
    this.endpoint = resolveEndpoint(opts.endpoint);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { runtime, image } = loadServices();
    const credentials = grpc.credentials.createInsecure();
    // A CRI message can be large (a ListContainers of a busy node); the kubelet allows 16 MiB.
    const options = { "grpc.max_receive_message_length": 16 << 20, "grpc.max_send_message_length": 16 << 20 };
    this.runtime = new runtime(this.endpoint, credentials, options);
    // The same channel for both services.
    this.image = new image(this.endpoint, credentials, { ...options, channelOverride: this.runtime.getChannel() });
  }

  close(): void {
    this.runtime.close();
  }

  /** The connection to the runtime's socket, for other services served on it (containerd's own API). */
  get channel(): ReturnType<grpc.Client["getChannel"]> {
    return this.runtime.getChannel();
  }

  private call<Res>(client: grpc.Client, method: string, req: object, timeoutMs = this.timeoutMs): Promise<Res> {
    return unaryCall(client, method, req, timeoutMs, `CRI ${method} at ${this.endpoint}`);
  }

  // ---- RuntimeService

  version(timeoutMs?: number): Promise<T.VersionResponse> {
    return this.call(this.runtime, "Version", { version: "v1" }, timeoutMs);
  }

  async runPodSandbox(config: T.PodSandboxConfig, runtimeHandler = "", timeoutMs?: number): Promise<string> {
    const res = await this.call<{ podSandboxId: string }>(this.runtime, "RunPodSandbox", { config, runtimeHandler }, timeoutMs);
    return res.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string, timeoutMs?: number): Promise<void> {
    await this.call(this.runtime, "StopPodSandbox", { podSandboxId }, timeoutMs);
  }

  async removePodSandbox(podSandboxId: string, timeoutMs?: number): Promise<void> {
    await this.call(this.runtime, "RemovePodSandbox", { podSandboxId }, timeoutMs);
  }

  podSandboxStatus(podSandboxId: string, verbose = false, timeoutMs?: number): Promise<T.PodSandboxStatusResponse> {
    return this.call(this.runtime, "PodSandboxStatus", { podSandboxId, verbose }, timeoutMs);
  }

  async listPodSandbox(filter?: T.PodSandboxFilter, timeoutMs?: number): Promise<T.PodSandbox[]> {
    const res = await this.call<{ items: T.PodSandbox[] }>(this.runtime, "ListPodSandbox", filter ? { filter } : {}, timeoutMs);
    return res.items;
  }

  async createContainer(podSandboxId: string, config: T.ContainerConfig, sandboxConfig: T.PodSandboxConfig, timeoutMs?: number): Promise<string> {
    const res = await this.call<{ containerId: string }>(this.runtime, "CreateContainer", { podSandboxId, config, sandboxConfig }, timeoutMs);
    return res.containerId;
  }

  async startContainer(containerId: string, timeoutMs?: number): Promise<void> {
    await this.call(this.runtime, "StartContainer", { containerId }, timeoutMs);
  }

  /** Stops with SIGTERM, then SIGKILL after `timeoutSeconds` (0: at once). */
  async stopContainer(containerId: string, timeoutSeconds = 0, timeoutMs?: number): Promise<void> {
    await this.call(this.runtime, "StopContainer", { containerId, timeout: String(timeoutSeconds) }, timeoutMs ?? Math.max(this.timeoutMs, timeoutSeconds * 1000 + 10_000));
  }

  async removeContainer(containerId: string, timeoutMs?: number): Promise<void> {
    await this.call(this.runtime, "RemoveContainer", { containerId }, timeoutMs);
  }

  async listContainers(filter?: T.ContainerFilter, timeoutMs?: number): Promise<T.Container[]> {
    const res = await this.call<{ containers: T.Container[] }>(this.runtime, "ListContainers", filter ? { filter } : {}, timeoutMs);
    return res.containers;
  }

  containerStatus(containerId: string, verbose = false, timeoutMs?: number): Promise<T.ContainerStatusResponse> {
    return this.call(this.runtime, "ContainerStatus", { containerId, verbose }, timeoutMs);
  }

  /**
   * Checkpoints the container into the archive `location` (a path as the runtime sees it). The
   * runtime's own timeout is `timeoutSeconds` (0: its default); the call's deadline a little more.
   */
  async checkpointContainer(containerId: string, location: string, timeoutSeconds = 0, timeoutMs?: number): Promise<void> {
    const deadline = timeoutMs ?? (timeoutSeconds > 0 ? timeoutSeconds * 1000 + 10_000 : Math.max(this.timeoutMs, 5 * 60_000));
    await this.call(this.runtime, "CheckpointContainer", { containerId, location, timeout: String(timeoutSeconds) }, deadline);
  }

  // ---- ImageService

  async pullImage(image: string, opts: { auth?: T.AuthConfig; sandboxConfig?: T.PodSandboxConfig; timeoutMs?: number } = {}): Promise<string> {
    const req = { image: { image }, ...(opts.auth ? { auth: opts.auth } : {}), ...(opts.sandboxConfig ? { sandboxConfig: opts.sandboxConfig } : {}) };
    const res = await this.call<{ imageRef: string }>(this.image, "PullImage", req, opts.timeoutMs ?? Math.max(this.timeoutMs, 5 * 60_000));
    return res.imageRef;
  }

  async listImages(timeoutMs?: number): Promise<T.Image[]> {
    const res = await this.call<{ images: T.Image[] }>(this.image, "ListImages", {}, timeoutMs);
    return res.images;
  }

  /** The image, or undefined when the runtime does not have it. */
  async imageStatus(image: string, timeoutMs?: number): Promise<T.Image | undefined> {
    const res = await this.call<{ image: T.Image | null }>(this.image, "ImageStatus", { image: { image } }, timeoutMs);
    return res.image ?? undefined;
  }
}
