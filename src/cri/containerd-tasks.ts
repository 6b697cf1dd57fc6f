/**
 * containerd's own task API (containerd.services.tasks.v1, namespace k8s.io, where its CRI plugin
 * keeps the kubelet's containers), on the CRI client's connection: the pause and resume the CRI has
 * no call for. A task paused here is frozen by runc (cgroup freezer), and containerd's CRI
 * CheckpointContainer leaves a task it finds paused paused: it pauses and resumes only a running one.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath, unaryCall, type CriClient } from "./client.js";

export const TASKS_PROTO_FILE = "containerd-tasks.proto";
/** The containerd namespace of the CRI plugin's containers. */
export const CRI_NAMESPACE = "k8s.io";

export type TaskStatus = "UNKNOWN" | "CREATED" | "RUNNING" | "STOPPED" | "PAUSED" | "PAUSING";

let service: grpc.ServiceClientConstructor | undefined;

function loadService(): grpc.ServiceClientConstructor {
  if (!service) {
    const definition = protoLoader.loadSync(protoPath(undefined, TASKS_PROTO_FILE), { keepCase: false, longs: String, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { containerd: { services: { tasks: { v1: { Tasks: grpc.ServiceClientConstructor } } } } };
    service = pkg.containerd.services.tasks.v1.Tasks;
  }
  return service;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export class ContainerdTasks {
  private readonly client: grpc.Client;
  private readonly endpoint: string;

  constructor(cri: CriClient) {
    this.endpoint = cri.endpoint;
    const Tasks = loadService();
    this.client = new Tasks(cri.endpoint, grpc.credentials.createInsecure(), { channelOverride: cri.channel });
  }

  private call<Res>(method: string, containerId: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Res> {
    const metadata = new grpc.Metadata();
    metadata.set("containerd-namespace", CRI_NAMESPACE);
    return unaryCall(this.client, method, { containerId }, timeoutMs, `containerd Tasks.${method} of ${containerId.slice(0, 12)} at ${this.endpoint}`, metadata);
  }

  /** The task's status as its shim keeps it (PAUSED after pause, until resume). */
  async status(containerId: string, timeoutMs?: number): Promise<TaskStatus> {
    const res = await this.call<{ process: { status: TaskStatus } | null }>("Get", containerId, timeoutMs);
    return res.process?.status ?? "UNKNOWN";
  }

  /** Freezes every process of the container; returns once runc reports the cgroup frozen. */
  async pause(containerId: string, timeoutMs?: number): Promise<void> {
    await this.call("Pause", containerId, timeoutMs);
  }

  async resume(containerId: string, timeoutMs?: number): Promise<void> {
    await this.call("Resume", containerId, timeoutMs);
  }
}
