/**
 * The endpoint's Prometheus metrics, on a registry each endpoint owns: two endpoints in one process
 * (tests, or a node with two listeners) never share or double-register counters. HTTP metrics keep
 * the kubelet's names and its path buckets; checkpoint metrics are ckpt's own.
 */
import { Counter, Histogram, Registry } from "prom-client";

/** How a request ended, for logs and metric labels. */
export type RequestResult = "success" | "invalid" | "unauthorized" | "forbidden" | "not_found" | "error";

export function requestResult(status: number): RequestResult {
  if (status < 400) return "success";
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  return status < 500 ? "invalid" : "error";
}

const RESULTS: RequestResult[] = ["success", "invalid", "unauthorized", "forbidden", "not_found", "error"];

// Known first path segments; anything else is "other", so clients cannot mint label values.
const PATH_BUCKETS = new Set(["checkpoint", "pods", "metrics", "healthz", "migrations", "lazy-restore"]);

export function pathBucket(segments: readonly string[]): string {
  const first = segments[0] ?? "";
  return PATH_BUCKETS.has(first) ? first : "other";
}

// Checkpoints take from a fraction of a second (a small process) to many minutes (gigabytes of memory).
const CHECKPOINT_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export class EndpointMetrics {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: "kubelet_http_requests_total",
    help: "Number of HTTP requests received by the endpoint, by method, path bucket and status code.",
    labelNames: ["method", "path", "code"] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: "kubelet_http_requests_duration_seconds",
    help: "Duration in seconds to serve HTTP requests, by method and path bucket.",
    labelNames: ["method", "path"] as const,
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });

  private readonly checkpointRequests = new Counter({
    name: "ckpt_checkpoint_requests_total",
    help: "Checkpoint requests (POST /checkpoint/...), by result.",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  private readonly checkpointErrors = new Counter({
    name: "ckpt_checkpoint_errors_total",
    help: "Checkpoints the node attempted that failed (the request named a pod and container that exist).",
    registers: [this.registry],
  });

  private readonly checkpointDuration = new Histogram({
    name: "ckpt_checkpoint_duration_seconds",
    help: "Time the node took to checkpoint a container, successful or not.",
    buckets: CHECKPOINT_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    // Every result series exists from the start, so a rate() over a fresh endpoint is 0, not absent.
    for (const result of RESULTS) this.checkpointRequests.inc({ result }, 0);
    this.checkpointErrors.inc(0);
  }

  request(method: string, bucket: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, path: bucket, code: String(status) });
    this.httpDuration.observe({ method, path: bucket }, seconds);
    if (bucket === "checkpoint" && method === "POST") this.checkpointRequests.inc({ result: requestResult(status) });
  }

  /**
   * One call of the backend's checkpointContainer. "refused": it named no such pod or container, or
   * an invalid request, so no checkpoint was attempted and nothing is timed.
   */
  checkpoint(seconds: number, outcome: "success" | "failed" | "refused"): void {
    if (outcome === "refused") return;
    this.checkpointDuration.observe(seconds);
    if (outcome === "failed") this.checkpointErrors.inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
