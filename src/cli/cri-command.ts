/**
 * `ckpt cri`: a CRI runtime (containerd, CRI-O) spoken to directly over its gRPC socket, as the
 * kubelet does: `version`, `pods`, `ps`, `checkpoint CONTAINER --export FILE` and
 * `restore CHECKPOINT --pod-config FILE`.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { Command, Option } from "commander";
import { CriClient, CriError, type Container, type PodSandbox } from "../cri/client.js";
import { parsePodConfig } from "../cri/pod-config-file.js";
import type { ContainerConfig, PodSandboxConfig } from "../cri/types.js";
import type { OpenOptions } from "../checkpoint/archive/checkpoint-archive.js";
import { identityFrom, identityOption } from "./checkpoint-arg.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";
import { renderTable } from "./table.js";

interface GlobalOptions {
  runtimeEndpoint?: string;
}

function seconds(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`${what}: not a number of seconds: ${value}`);
  return n;
}

/** Runs `fn` with a client of the endpoint the options name; CRI failures become one-line user errors. */
async function withClient<R>(cmd: Command, fn: (client: CriClient) => Promise<R>): Promise<R> {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  let client: CriClient | undefined;
  try {
    client = new CriClient({ ...(opts.runtimeEndpoint ? { endpoint: opts.runtimeEndpoint } : {}), });
    return await fn(client);
  } catch (err) {
    if (err instanceof CriError) throw new UserError(err.message);
    throw err;
  } finally {
    client?.close();
  }
}

/** A nanosecond timestamp as crictl shows it: how long ago. */
export function ago(nanos: string, now = Date.now()): string {
  const ms = Number(BigInt(nanos) / 1_000_000n);
  if (!ms) return "";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} hours ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

const shortId = (id: string) => id.slice(0, 13);

/** Sort order of crictl's lists: by creation time (nanoseconds as strings), newest first. */
function newestFirst(a: { createdAt: string }, b: { createdAt: string }): number {
  const x = BigInt(a.createdAt);
  const y = BigInt(b.createdAt);
  return y > x ? 1 : y < x ? -1 : 0;
}

export function podRows(pods: PodSandbox[], now = Date.now()): string[][] {
  return pods.map((p) => [shortId(p.id), ago(p.createdAt, now), p.state.replace(/^SANDBOX_/, ""), p.metadata?.name ?? "", p.metadata?.namespace ?? "", String(p.metadata?.attempt ?? 0), p.runtimeHandler || "(default)"]);
}

export function containerRows(containers: Container[], now = Date.now()): string[][] {
  return containers.map((c) => [
    shortId(c.id),
    c.image?.userSpecifiedImage || c.image?.image || c.imageRef,
    ago(c.createdAt, now),
    c.state.replace(/^CONTAINER_/, ""),
    c.metadata?.name ?? "",
    String(c.metadata?.attempt ?? 0),
    shortId(c.podSandboxId),
  ]);
}

const formatOption = () => new Option("--format <format>", "output format").choices(["table", "json"]).default("table");

/**
 * The container whose ID is `id` or starts with it (as crictl accepts), exactly one.
 */
async function findContainer(client: CriClient, id: string): Promise<Container> {
  const all = await client.listContainers();
  const exact = all.find((c) => c.id === id);
  if (exact) return exact;
  const matches = all.filter((c) => c.id.startsWith(id));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new UserError(`container ID ${id} is ambiguous: ${matches.map((c) => shortId(c.id)).join(", ")}`);
  throw new UserError(`no container ${id} at ${client.endpoint}`);
}

/**
 * A new, unused path beside `file`: the runtime opens the checkpoint location without truncating
 * it (containerd), so an old file there would leave stale bytes after a shorter archive.
 */
function freshTempPath(file: string): string {
  for (;;) {
    const p = join(dirname(file), `.${basename(file)}.ckpt-${process.pid}-${randomBytes(4).toString("hex")}.partial`);
    if (!existsSync(p)) return p;
  }
}

export function criCommand(): Command {
  const cri = new Command("cri")
    .description("talk to a CRI runtime (containerd, CRI-O) over its gRPC socket, as the kubelet does")
    .option("-r, --runtime-endpoint <endpoint>", "CRI socket, unix:///path (default: $CONTAINER_RUNTIME_ENDPOINT, else the usual sockets)");

  cri
    .command("version")
    .description("the runtime's name and version, and the CRI version it speaks")
    .addOption(formatOption())
    .action(async (opts: { format: string }, cmd: Command) => {
      const v = await withClient(cmd, (c) => c.version());
      if (opts.format === "json") return writeStdout(JSON.stringify(v, null, 2) + "\n");
      writeStdout(`Version:  ${v.version}\nRuntimeName:  ${v.runtimeName}\nRuntimeVersion:  ${v.runtimeVersion}\nRuntimeApiVersion:  ${v.runtimeApiVersion}\n`);
    });

  cri
    .command("pods")
    .description("list pod sandboxes")
    .addOption(formatOption())
    .action(async (opts: { format: string }, cmd: Command) => {
      const pods = await withClient(cmd, (c) => c.listPodSandbox());
      pods.sort(newestFirst);
      if (opts.format === "json") return writeStdout(JSON.stringify({ items: pods }, null, 2) + "\n");
      writeStdout(renderTable(["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"], podRows(pods)));
    });

  cri
    .command("ps")
    .description("list containers (running ones; --all for every state)")
    .option("-a, --all", "containers in every state")
    .option("-p, --pod <id>", "only the containers of this pod sandbox")
    .addOption(formatOption())
    .action(async (opts: { format: string; all?: boolean; pod?: string }, cmd: Command) => {
      const containers = await withClient(cmd, (c) =>
        c.listContainers({ ...(opts.all ? {} : { state: { state: "CONTAINER_RUNNING" as const } }), ...(opts.pod ? { podSandboxId: opts.pod } : {}) }),
      );
      containers.sort(newestFirst);
      if (opts.format === "json") return writeStdout(JSON.stringify({ containers }, null, 2) + "\n");
      writeStdout(renderTable(["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID"], containerRows(containers)));
    });

  cri
    .command("checkpoint")
    .description("checkpoint a running container through the CRI (it keeps running) into a checkpoint archive")
    .argument("<container>", "container ID (or a unique prefix of one)")
    .requiredOption("--export <file>", "the archive to write (replaced when complete)")
    .option("--timeout <seconds>", "how long the runtime may take (0: its default)", "0")
    .action(async (id: string, opts: { export: string; timeout: string }, cmd: Command) => {
      const file = resolve(opts.export);
      if (!existsSync(dirname(file)) || !statSync(dirname(file)).isDirectory()) throw new UserError(`${dirname(file)}: no such directory`);
      if (existsSync(file) && statSync(file).isDirectory()) throw new UserError(`${file}: is a directory`);
      const runtimeTimeout = seconds(opts.timeout, "--timeout");
      const started = Date.now();
      const container = await withClient(cmd, async (c) => {
        const container = await findContainer(c, id);
        const temp = freshTempPath(file);
        try {
          await c.checkpointContainer(container.id, temp, runtimeTimeout);
          if (!existsSync(temp)) throw new UserError(`${c.endpoint} reported the checkpoint of ${container.id} done but wrote no archive at ${temp}`);
          renameSync(temp, file);
        } finally {
          rmSync(temp, { force: true });
        }
        return container;
      });
      process.stderr.write(`checkpointed ${shortId(container.id)} (${container.metadata?.name ?? ""}) to ${file} in ${((Date.now() - started) / 1000).toFixed(2)} s\n`);
    });

  cri
    .command("restore")
    .description("restore a checkpoint into a new pod sandbox through the CRI (CreateContainer with the checkpoint as its image)")
    .argument("<checkpoint>", "a checkpoint archive on this node, or a checkpoint image reference")
    .requiredOption("--pod-config <file>", "the new sandbox's PodSandboxConfig (JSON or YAML, as crictl runp reads it)")
    .option("--name <name>", "the restored container's name (default: the checkpointed container's)")
    .addOption(identityOption())
    .addOption(formatOption())
    .action(async (source: string, opts: { podConfig: string; name?: string; format: string; identity?: string }, cmd: Command) => {
      const podConfig = parsePodConfig(readFileSync(opts.podConfig, "utf8"), opts.podConfig);
      const started = Date.now();
      const restored = await withClient(cmd, (c) => restoreThroughCri(c, source, podConfig, opts.name, identityFrom(opts.identity)));
      if (opts.format === "json") return writeStdout(JSON.stringify(restored, null, 2) + "\n");
      writeStdout(renderTable(["POD ID", "CONTAINER", "NAME", "CHECKPOINT"], [[shortId(restored.podSandboxId), shortId(restored.containerId), restored.name, source]]));
      process.stderr.write(`restored in ${((Date.now() - started) / 1000).toFixed(2)} s\n`);
    });

  return cri;
}

interface Restored {
  podSandboxId: string;
  containerId: string;
  name: string;
}

/**
 * A new sandbox, then the checkpoint created and started in it. An archive goes to containerd
 * rewritten into the layout it restores (base image pinned by digest, status.dump), a sealed one
 * decrypted as it is read (`open` has its key), so that the only plaintext on disk is the rewritten
 * archive in a private directory the runtime restores from, removed after; CRI-O takes archives as
 * they are; an image reference is pulled and restored by the runtime itself. Nothing is left behind
 * when a step fails.
 */
async function restoreThroughCri(c: CriClient, source: string, podConfig: PodSandboxConfig, name: string | undefined, open: OpenOptions): Promise<Restored> {
  const isArchive = existsSync(source);
  const runtime = (await c.version()).runtimeName;
  const { checkpointedContainerName } = await import("../node/container-restore.js");
  const { KUBELET_NAMESPACES } = await import("../node/cri/cri-pod-config.js");
  if (isArchive && runtime !== "containerd" && (await isSealedFile(source))) {
    throw new UserError(`${source}: a sealed archive restores through containerd only (${runtime} reads the archive itself): unseal it first`);
  }
  const containerName = name ?? (isArchive ? await checkpointedContainerName(resolve(source), open) : imageBaseName(source));
  let image = isArchive ? resolve(source) : source;
  let work: string | undefined;
  const sandboxId = await c.runPodSandbox(podConfig);
  let containerId: string | undefined;
  try {
    if (isArchive && runtime === "containerd") {
      const { prepareContainerdRestore } = await import("../node/cri/containerd-restore.js");
      const { criuPath } = await import("../checkpoint/host-checks.js");
      work = mkdtempSync(join(tmpdir(), "ckpt-cri-restore-"));
      image = await prepareContainerdRestore({ cri: c, source: resolve(source), criu: criuPath(), containerName, annotations: {}, outDir: work, open });
    } else if (!isArchive && !(await c.imageStatus(source))) {
      await c.pullImage(source, { sandboxConfig: podConfig });
    }
    const config: ContainerConfig = {
      metadata: { name: containerName, attempt: 0 },
      image: { image, userSpecifiedImage: isArchive ? image : source },
      ...(podConfig.logDirectory ? { logPath: `${containerName}.log` } : {}),
      linux: { securityContext: { namespaceOptions: KUBELET_NAMESPACES } },
    };
    // The runtime copies the checkpoint's log into the new log file at create time; the kubelet makes
    // the pod's log directory, and without it that copy is skipped without a word.
    if (podConfig.logDirectory) mkdirSync(podConfig.logDirectory, { recursive: true, mode: 0o755 });
    containerId = await c.createContainer(sandboxId, config, podConfig);
    await c.startContainer(containerId);
    return { podSandboxId: sandboxId, containerId, name: containerName };
  } catch (err) {
    if (containerId) await c.removeContainer(containerId).catch(() => undefined);
    await c.stopPodSandbox(sandboxId).catch(() => undefined);
    await c.removePodSandbox(sandboxId).catch(() => undefined);
    throw err;
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

/** Whether the file is an age-sealed archive (by its first bytes). */
async function isSealedFile(path: string): Promise<boolean> {
  if (statSync(path).isDirectory()) return false;
  const { detectSealed } = await import("../checkpoint/seal/age-format.js");
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(64);
    return detectSealed(head.subarray(0, readSync(fd, head, 0, head.length, 0))) !== undefined;
  } finally {
    closeSync(fd);
  }
}

/** "registry/ns/app:tag" → "app": a container name for an image restore that names none. */
function imageBaseName(ref: string): string {
  const path = ref.split("@")[0]!.split("/").pop()!;
  return path.split(":")[0]!.replace(/[^a-z0-9-]/g, "-") || "restored";
}
