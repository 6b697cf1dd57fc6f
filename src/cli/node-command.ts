/**
 * `ckpt node serve | apply | pods | shim`: the node agent (pods with runc, the kubelet's checkpoint
 * API on HTTPS) and a small client for it.
 */
import { Command, Option } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import pino from "pino";
import { NodeClient, type NodeClientOptions as ClientOptions } from "../node-client/node-client.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";

const collect = (v: string, prev: string[]) => [...prev, v];
const size = (what: string) => (v: string) => {
  const m = /^(\d+)([KMGT]i?B?)?$/i.exec(v.trim());
  if (!m) throw new UserError(`${what} must be a size such as 500M or 20G, not ${JSON.stringify(v)}`);
  const unit = (m[2] ?? "").toUpperCase().charAt(0);
  return Number(m[1]) * 1024 ** ("KMGT".indexOf(unit) + 1 || 0);
};
const int = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${what} must be a whole number, not ${JSON.stringify(v)}`);
  return n;
};

function serveCommand(): Command {
  return new Command("serve")
    .description("run the node agent: pods with runc, and the kubelet's checkpoint API on HTTPS")
    .option("--root <dir>", "the agent's state (pods, containers, images)", "/var/lib/ckpt")
    .option("--checkpoints-dir <dir>", "where checkpoint archives are written", "/var/lib/kubelet/checkpoints")
    .option("--node-name <name>", "the node's name (default: the host name)")
    .option("--address <ip>", "address to listen on", "0.0.0.0")
    .option("--port <n>", "HTTPS port (0: any free port)", int("--port"), 10250)
    .option("--tls-cert-file <file>", "serving certificate (PEM); default: a self-signed one kept under --root")
    .option("--tls-private-key-file <file>", "its key (PEM)")
    .option("--client-ca-file <file>", "CA bundle that client certificates must chain to")
    .option("--token-auth-file <file>", "bearer tokens (CSV: token,user,uid,\"group1,group2\")")
    .option("--authorization-policy-file <file>", "who may do what (YAML or JSON rules); without it every request is denied")
    .option("--anonymous-auth", "accept requests without credentials (as system:anonymous)", false)
    .option("--runtime-request-timeout <seconds>", "the least deadline of a checkpoint", int("--runtime-request-timeout"), 120)
    .option("--max-concurrent-checkpoints <n>", "checkpoints running at once; more wait", int("--max-concurrent-checkpoints"), 4)
    .option("--pod-subnet <cidr>", "pod addresses", "10.88.0.0/16")
    .option("--bridge <name>", "the pods' bridge device", "ckpt0")
    .option("--insecure-registry <host:port>", "a registry reached over plain HTTP (repeatable)", collect, [] as string[])
    .option("--registry-auth-file <file>", "docker-style auth file: credentials for pushing checkpoint images")
    .option("--runtime-endpoint <endpoint>", "a CRI runtime's socket (unix:///run/containerd/containerd.sock): run pods through it instead of the built-in runc runtime")
    .option("--cgroup-root <path>", "with --runtime-endpoint: the cgroup parent of the pods (default: the runtime's)")
    .option("--runc <path>", "runc binary", "runc")
    .option("--criu <path>", "CRIU binary runc uses", "/usr/local/sbin/criu")
    .option("--keep-checkpoints <n>", "keep the newest N archives per container (pinned ones aside)", int("--keep-checkpoints"))
    .option("--max-checkpoints-size <size>", "keep the archives under this total size, oldest deleted first (e.g. 20G)", size("--max-checkpoints-size"))
    .option("--seal-recipient <age1…>", "seal every checkpoint archive for this age recipient (repeatable); the response names ARCHIVE.tar.age", collect, [] as string[])
    .option("--seal-identity <file>", "age identity file that opens sealed archives (ARCHIVE.tar.age) given to restore")
    .option("--pod-checkpoints-dir <dir>", "where pod checkpoints (PodCheckpoint objects) are written (default: pod-checkpoints beside --checkpoints-dir)")
    .option("--pod-checkpoint-timeout <seconds>", "the ceiling of a pod checkpoint's timeout, and the timeout of one that gives none", int("--pod-checkpoint-timeout"), 15)
    .option("--peer-client-certificate <file>", "this node's client certificate (PEM), to fetch a lazy migration's pages from the source node")
    .option("--peer-client-key <file>", "its key (PEM)")
    .option("--memory-work-dir <dir>", 'tmpfs directory for CRIU\'s images while archiving, when memory allows (default: under /dev/shm; "" keeps them on disk)')
    .action(async (o) => {
      const { openNodeAgent, NodeSettingsSchema } = await import("../node/node-setup.js");
      const { startEndpoint } = await import("../kubelet-endpoint/index.js");
      const { shimCommand } = await import("../node/shim/shim-command.js");
      const logger = pino({ base: { component: "ckpt-node" } });
      const settings = NodeSettingsSchema.parse({
        ...(o.nodeName ? { nodeName: o.nodeName } : {}),
        root: o.root,
        checkpointsDir: o.checkpointsDir,
        runc: o.runc,
        criu: o.criu,
        bridge: o.bridge,
        podSubnet: o.podSubnet,
        insecureRegistries: o.insecureRegistry,
        ...(o.registryAuthFile ? { registryAuthFile: o.registryAuthFile } : {}),
        maxConcurrentCheckpoints: o.maxConcurrentCheckpoints,
        ...(o.memoryWorkDir !== undefined ? { memoryWorkDir: o.memoryWorkDir } : {}),
        ...(o.runtimeEndpoint ? { runtimeEndpoint: o.runtimeEndpoint } : {}),
        ...(o.cgroupRoot ? { cgroupRoot: o.cgroupRoot } : {}),
        ...(o.keepCheckpoints !== undefined ? { keepCheckpointsPerContainer: o.keepCheckpoints } : {}),
        ...(o.maxCheckpointsSize !== undefined ? { maxCheckpointsBytes: o.maxCheckpointsSize } : {}),
        sealRecipients: o.sealRecipient,
        ...(o.sealIdentity !== undefined ? { sealIdentity: o.sealIdentity } : {}),
        ...(o.podCheckpointsDir ? { podCheckpointsDir: o.podCheckpointsDir } : {}),
        podCheckpointTimeoutSeconds: o.podCheckpointTimeout,
        ...(o.peerClientCertificate !== undefined ? { peerClientCertificate: o.peerClientCertificate } : {}),
        ...(o.peerClientKey !== undefined ? { peerClientKey: o.peerClientKey } : {}),
      });
      if ((settings.peerClientCertificate === undefined) !== (settings.peerClientKey === undefined)) {
        throw new UserError("--peer-client-certificate and --peer-client-key go together");
      }
      if (settings.sealRecipients.length) {
        const { checkRecipient } = await import("../checkpoint/seal/file-key.js");
        for (const r of settings.sealRecipients) await checkRecipient(r);
      }
      const agent = await openNodeAgent(settings, shimCommand(), (e) => logger.info(e));
      const endpoint = await startEndpoint(agent, {
        address: o.address,
        port: o.port,
        tlsCertFile: o.tlsCertFile,
        tlsKeyFile: o.tlsPrivateKeyFile,
        certDir: join(settings.root, "pki"),
        clientCAFile: o.clientCaFile,
        tokenFile: o.tokenAuthFile,
        authorizationPolicyFile: o.authorizationPolicyFile,
        anonymousAuth: o.anonymousAuth,
        runtimeRequestTimeoutSeconds: o.runtimeRequestTimeout,
        logger,
      });
      logger.info({ msg: "serving", url: endpoint.url, node: settings.nodeName, root: settings.root });
      const stop = async () => {
        agent.close();
        await endpoint.close();
        process.exit(0);
      };
      process.once("SIGTERM", () => void stop());
      process.once("SIGINT", () => void stop());
    });
}

/** How a client proves who it is to a node, and checks the node. */
export function withCredentialOptions(cmd: Command): Command {
  return cmd
    .option("--token <token>", "bearer token")
    .option("--token-file <file>", "file holding the bearer token")
    .option("--client-certificate <file>", "client certificate (PEM)")
    .option("--client-key <file>", "its key (PEM)")
    .option("--certificate-authority <file>", "CA that signed the agent's serving certificate")
    .option("--insecure-skip-tls-verify", "do not check the agent's certificate (it is self-signed by default)", false);
}

function withClientOptions(cmd: Command): Command {
  return withCredentialOptions(cmd.option("--server <url>", "the node agent", "https://127.0.0.1:10250"));
}

/** One HTTPS call to the agent; the body is returned, a non-2xx status is a one-line error. */
async function call(o: ClientOptions, method: string, path: string, body?: string, contentType?: string): Promise<string> {
  const client = new NodeClient(o);
  try {
    return await client.call(method, path, body, contentType);
  } finally {
    client.close();
  }
}

export function nodeCommand(): Command {
  const node = new Command("node").description("a node agent that runs pods with runc and checkpoints them on the kubelet's API");
  node.addCommand(serveCommand());
  node.addCommand(
    withClientOptions(new Command("apply"))
      .description("create or update pods and PodCheckpoints from Kubernetes manifests (YAML or JSON, several documents allowed)")
      .requiredOption("-f, --filename <file>", "the manifest (- for standard input)")
      .action(async (o: ClientOptions & { filename: string }) => {
        const text = readFileSync(o.filename === "-" ? 0 : o.filename, "utf8");
        const { splitManifests } = await import("./manifest-documents.js");
        for (const doc of splitManifests(text, o.filename)) {
          if (doc.kind === "PodCheckpoint") {
            const made = JSON.parse(await call(o, "POST", "/podcheckpoints", doc.text, "application/yaml")) as { metadata?: { namespace?: string; name?: string } };
            writeStdout(`podcheckpoint/${made.metadata?.name} created (namespace ${made.metadata?.namespace})\n`);
            continue;
          }
          const pod = JSON.parse(await call(o, "POST", "/pods", doc.text, "application/yaml")) as { metadata?: { namespace?: string; name?: string }; status?: { podIP?: string } };
          writeStdout(`pod/${pod.metadata?.name} ${doc.restore ? "restored" : "created"} (namespace ${pod.metadata?.namespace}, IP ${pod.status?.podIP ?? "none"})\n`);
        }
      }),
  );
  node.addCommand(
    withClientOptions(new Command("podcheckpoints"))
      .description("the agent's PodCheckpoint objects, or one of them (NAMESPACE/NAME)")
      .argument("[namespace/name]")
      .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
      .option("--wait <seconds>", "with NAMESPACE/NAME: wait until its checkpoint has ended", int("--wait"))
      .action(async (target: string | undefined, o: ClientOptions & { format: string; wait?: number }) => {
        const { podCheckpointRows, waitForPodCheckpoint } = await import("./pod-checkpoints-view.js");
        let items: unknown[];
        if (target) {
          const parts = target.split("/");
          if (parts.length !== 2 || parts.some((p) => !p)) throw new UserError(`expected NAMESPACE/NAME, not ${JSON.stringify(target)}`);
          const get = async () => JSON.parse(await call(o, "GET", `/podcheckpoints/${parts.map(encodeURIComponent).join("/")}`)) as unknown;
          items = [o.wait !== undefined ? await waitForPodCheckpoint(get, o.wait * 1000) : await get()];
        } else {
          items = (JSON.parse(await call(o, "GET", "/podcheckpoints")) as { items: unknown[] }).items;
        }
        if (o.format === "json") return writeStdout(JSON.stringify(target ? items[0] : { kind: "PodCheckpointList", items }, null, 2) + "\n");
        const { renderTable } = await import("./table.js");
        writeStdout(renderTable(["NAMESPACE", "NAME", "POD", "READY", "REASON", "LOCATION", "AGE"], podCheckpointRows(items, new Date())));
      }),
  );
  node.addCommand(
    withClientOptions(new Command("pods"))
      .description("the agent's pods")
      .addOption(new Option("--format <format>", "output format").choices(["table", "json"]).default("table"))
      .action(async (o: ClientOptions & { format: string }) => {
        const list = JSON.parse(await call(o, "GET", "/pods")) as { items: Array<Record<string, any>> };
        if (o.format === "json") return writeStdout(JSON.stringify(list, null, 2) + "\n");
        const { renderTable } = await import("./table.js");
        const rows = list.items.map((p) => {
          const statuses: Array<Record<string, any>> = p.status?.containerStatuses ?? [];
          return [
            p.metadata.namespace,
            p.metadata.name,
            `${statuses.filter((s) => s.ready).length}/${p.spec.containers.length}`,
            p.status?.phase ?? "",
            String(statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0)),
            p.status?.podIP ?? "",
          ];
        });
        writeStdout(renderTable(["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "IP"], rows));
      }),
  );
  node.addCommand(
    withClientOptions(new Command("restore"))
      .description("restore a checkpoint (an archive path on the node, or a checkpoint image) as a new pod")
      .argument("<archive-or-image>")
      .requiredOption("--pod <name>", "the new pod's name")
      .option("--namespace <ns>", "its namespace", "default")
      .option("--container <name>", "the container's name (default: the checkpointed container's)")
      .action(async (source: string, o: ClientOptions & { pod: string; namespace: string; container?: string }) => {
        // A path readable here is sent absolute; the node reads it (and names the container) itself.
        const body = JSON.stringify({
          source: source.startsWith("/") || existsSync(source) ? resolve(source) : source,
          name: o.pod,
          namespace: o.namespace,
          ...(o.container ? { container: o.container } : {}),
        });
        const pod = JSON.parse(await call(o, "POST", "/restore", body)) as { status?: { podIP?: string } };
        writeStdout(`pod/${o.pod} restored from ${source} (namespace ${o.namespace}, IP ${pod.status?.podIP ?? "none"})\n`);
      }),
  );
  node.addCommand(
    withClientOptions(new Command("delete"))
      .description("stop and remove a pod")
      .argument("<namespace/name>")
      .action(async (target: string, o: ClientOptions) => {
        const parts = target.split("/");
        if (parts.length !== 2 || parts.some((p) => !p)) throw new UserError(`expected NAMESPACE/NAME, not ${JSON.stringify(target)}`);
        await call(o, "DELETE", `/pods/${parts.map(encodeURIComponent).join("/")}`);
        writeStdout(`pod/${parts[1]} deleted\n`);
      }),
  );
  node.addCommand(
    withClientOptions(new Command("checkpoint"))
      .description("checkpoint a container (NS/POD/CTR, as `curl -X POST …/checkpoint/NS/POD/CTR`) or a whole pod (NS/POD, through a PodCheckpoint)")
      .argument("<namespace/pod[/container]>")
      .option("--timeout <seconds>", "deadline", int("--timeout"))
      .action(async (target: string, o: ClientOptions & { timeout?: number }) => {
        const parts = target.split("/");
        if ((parts.length !== 3 && parts.length !== 2) || parts.some((p) => !p)) throw new UserError(`expected NAMESPACE/POD/CONTAINER or NAMESPACE/POD, not ${JSON.stringify(target)}`);
        const q = o.timeout !== undefined ? `?timeout=${o.timeout}` : "";
        const body = JSON.parse(await call(o, "POST", `/checkpoint/${parts.map(encodeURIComponent).join("/")}${q}`)) as Record<string, any>;
        if (parts.length === 3) return writeStdout((body.items as string[]).join("\n") + "\n");
        const { describePodCheckpoint } = await import("./pod-checkpoints-view.js");
        writeStdout(describePodCheckpoint(body));
      }),
  );
  node.addCommand(
    new Command("gc")
      .description("delete old checkpoint archives by a retention policy (archives named in DIR/.pinned are kept)")
      .argument("[dir]", "the checkpoint directory", "/var/lib/kubelet/checkpoints")
      .option("--keep <n>", "newest archives kept per container", int("--keep"))
      .option("--max-size <size>", "total size kept, oldest deleted first (e.g. 20G)", size("--max-size"))
      .option("--dry-run", "only say what would be deleted", false)
      .action(async (dir: string, o: { keep?: number; maxSize?: number; dryRun: boolean }) => {
        if (o.keep === undefined && o.maxSize === undefined) throw new UserError("give --keep, --max-size or both");
        const { applyRetention } = await import("../node/checkpoint-retention.js");
        const removed = applyRetention(dir, { keepPerContainer: o.keep, maxTotalBytes: o.maxSize }, o.dryRun);
        writeStdout(removed.map((n) => `${o.dryRun ? "would delete" : "deleted"} ${join(dir, n)}\n`).join("") || "nothing to delete\n");
      }),
  );
  // Started by the agent, one per container; not for people.
  node.addCommand(
    new Command("shim")
      .argument("<container-dir>")
      .action(async (dir: string) => {
        const { runShim } = await import("../node/shim/container-shim.js");
        process.exitCode = await runShim(dir);
      }),
    { hidden: true },
  );
  return node;
}
