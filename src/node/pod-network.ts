/**
 * Pod networks through CNI plugins (containernetworking-plugins: bridge + host-local), as kubelets'
 * runtimes do it: a named network namespace per pod, the `bridge` plugin gives it eth0 on the node's
 * bridge and an address from `host-local`, and `loopback` brings lo up. The plugins are run here
 * following the CNI protocol (CNI_* environment, network config on stdin, result on stdout).
 */
import { execa } from "execa";
import { existsSync } from "node:fs";
import { z } from "zod";

export interface PodNetworkConfig {
  /** Bridge device on the node. */
  bridge: string;
  /** Pod subnet, e.g. "10.88.0.0/16". */
  subnet: string;
  /** host-local's allocation store (kept under the agent's root so tests stay self-contained). */
  ipamDataDir: string;
  /** Where the CNI plugin binaries are. */
  pluginDir: string;
}

export const DEFAULT_CNI_PLUGIN_DIR = "/usr/lib/cni";

const CniResultSchema = z.object({
  ips: z.array(z.object({ address: z.string() })).default([]),
});

export class NetworkError extends Error {
  override name = "NetworkError";
}

const NETNS_DIR = "/var/run/netns";

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export class PodNetwork {
  constructor(readonly config: PodNetworkConfig) {}

  private netConf(type: "bridge" | "loopback"): string {
    if (type === "loopback") return JSON.stringify({ cniVersion: "1.0.0", name: "ckpt-lo", type: "loopback" });
    return JSON.stringify({
      cniVersion: "1.0.0",
      name: "ckpt-pods",
      type: "bridge",
      bridge: this.config.bridge,
      isGateway: true,
      ipMasq: false,
      hairpinMode: true,
      ipam: { type: "host-local", ranges: [[{ subnet: this.config.subnet }]], dataDir: this.config.ipamDataDir },
    });
  }

  private async plugin(type: "bridge" | "loopback", command: "ADD" | "DEL", sandboxId: string, netns: string): Promise<string> {
    const r = await execa(`${this.config.pluginDir}/${type}`, [], {
      input: this.netConf(type),
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: sandboxId,
        CNI_NETNS: netns,
        CNI_IFNAME: type === "loopback" ? "lo" : "eth0",
        CNI_PATH: this.config.pluginDir,
        PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      },
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    });
    if (r.exitCode !== 0) {
      // CNI errors are JSON on stdout: {"code":…, "msg":…, "details":…}.
      let msg = r.stderr || r.stdout;
      try {
        const e = JSON.parse(r.stdout) as { msg?: string; details?: string };
        msg = [e.msg, e.details].filter(Boolean).join(": ");
      } catch {
        // Not JSON: keep the raw text.
      }
      throw new NetworkError(`CNI ${type} ${command} for ${sandboxId}: ${msg.trim() || `exit ${r.exitCode}`}`);
    }
    return r.stdout;
  }

  /** Creates the pod's network namespace and connects it; returns the pod IP. */
  async setUp(sandboxId: string, netnsName: string): Promise<string> {
    const path = netnsPath(netnsName);
    if (!existsSync(path)) {
      const r = await execa("ip", ["netns", "add", netnsName], { reject: false });
      if (r.exitCode !== 0) throw new NetworkError(`ip netns add ${netnsName}: ${r.stderr.trim()}`);
    }
    await this.plugin("loopback", "ADD", sandboxId, path);
    const out = await this.plugin("bridge", "ADD", sandboxId, path);
    const result = CniResultSchema.safeParse(JSON.parse(out));
    const ip = result.success ? result.data.ips[0]?.address.split("/")[0] : undefined;
    if (!ip) throw new NetworkError(`CNI bridge ADD for ${sandboxId}: no address in the result`);
    return ip;
  }

  /** Releases the address and removes the namespace; safe to call twice. */
  async tearDown(sandboxId: string, netnsName: string): Promise<void> {
    const path = netnsPath(netnsName);
    if (existsSync(path)) {
      await this.plugin("bridge", "DEL", sandboxId, path).catch(() => undefined);
      await execa("ip", ["netns", "delete", netnsName], { reject: false });
    } else {
      // The namespace is gone but host-local may still hold the address.
      await this.plugin("bridge", "DEL", sandboxId, "").catch(() => undefined);
    }
  }
}
