/**
 * A node agent on a private containerd for tests: containerd (containerd.ts), a loopback registry
 * holding busybox (containerd pulls a checkpoint's base image by NAME@DIGEST when it restores),
 * and `ckpt node serve --runtime-endpoint` in front of it, with a CRI client of the test's own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CriClient } from "../../src/cri/client.js";
import { cniNetns, leftoversOf, startContainerd, type TestContainerd } from "./containerd.js";
import { makeNodeEnv, type NodeEnv, type NodeEnvOptions, type RunningAgent } from "./node-agent.js";
import { buildBusyboxLayout, pushLayout, startRegistry, type TestRegistry } from "./oci-images.js";

export interface CriNode {
  cd: TestContainerd;
  cri: CriClient;
  registry: TestRegistry;
  env: NodeEnv;
  agent: RunningAgent;
  /** busybox in the registry (`HOST/library/busybox:latest`). */
  image: string;
  /** Stops everything (pods first, through `agent`: the one running now) and returns what was left behind. */
  stop(agent: RunningAgent): Promise<string[]>;
}

export async function startCriNode(prefix: string, opts: Pick<NodeEnvOptions, "runtimeRequestTimeout"> = {}): Promise<CriNode> {
  const netnsBefore = cniNetns();
  const parts: Partial<CriNode> = {};
  const layoutDir = mkdtempSync(join(tmpdir(), `${prefix}-busybox-`));
  const stop = async (agent: RunningAgent | undefined) => {
    rmSync(layoutDir, { recursive: true, force: true });
    const { cd, cri, registry, env } = parts;
    if (agent && env) {
      const pods = await agent.call("GET", "/pods", { cert: env.alice }).then((r) => (JSON.parse(r.body) as { items: Array<{ metadata: { name: string } }> }).items, () => []);
      for (const p of pods) await agent.call("DELETE", `/pods/default/${p.metadata.name}`, { cert: env.alice }).catch(() => undefined);
    }
    await env?.cleanup();
    cri?.close();
    await cd?.cleanup();
    await registry?.stop();
    // No containerd, shim, CRIU or container process, mount, netns, bridge or directory left.
    return cd ? leftoversOf(cd, netnsBefore) : [];
  };
  try {
    parts.cd = await startContainerd();
    parts.cri = new CriClient({ endpoint: parts.cd.endpoint });
    parts.registry = await startRegistry();
    const layout = join(layoutDir, "layout");
    await buildBusyboxLayout(layout, { tag: "latest" });
    parts.image = await pushLayout(layout, "latest", parts.registry, "library/busybox");
    parts.env = await makeNodeEnv(mkdtempSync(join(tmpdir(), `${prefix}-node-`)), {
      insecureRegistries: [parts.registry.host],
      ...opts,
      extraArgs: ["--runtime-endpoint", parts.cd.endpoint, "--cgroup-root", parts.cd.cgroupParent],
    });
    parts.agent = await parts.env.start();
  } catch (err) {
    await stop(parts.agent);
    throw err;
  }
  return { ...(parts as Omit<CriNode, "stop">), stop };
}
