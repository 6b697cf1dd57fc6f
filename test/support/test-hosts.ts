/**
 * Test hosts on one machine: a network namespace each, joined to a bridge in the root namespace by a
 * veth pair, with an address of a private /24 (real-stack.md, "Network namespaces as test hosts").
 * A process runs "on" a host through `nsenter --net`, which switches only the network namespace: its
 * mounts stay visible to the test, unlike `ip netns exec`, which gives it a mount namespace of its own.
 */
import { spawnSync } from "node:child_process";

export interface TestHost {
  name: string;
  /** The namespace's name under /var/run/netns. */
  netns: string;
  ip: string;
  /** argv prefix that runs a command on this host. */
  prefix: string[];
}

export interface TestHosts {
  hosts: Record<string, TestHost>;
  /** The test's own address on the hosts' bridge. */
  gateway: string;
  cleanup(): void;
}

function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

let made = 0;

export function makeTestHosts(names: string[]): TestHosts {
  const n = (process.pid + made++) % 250;
  const tag = `${process.pid % 10000}${made}`;
  const bridge = `ckh${tag}`.slice(0, 15);
  const subnet = `10.251.${n}`;
  const created: string[] = [];
  const cleanup = () => {
    for (const ns of created) spawnSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
    spawnSync("ip", ["link", "delete", bridge], { stdio: "ignore" });
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${subnet}.1/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    const hosts: Record<string, TestHost> = {};
    names.forEach((name, i) => {
      const netns = `ckh-${tag}-${name}`;
      ip("netns", "add", netns);
      created.push(netns);
      const outside = `vh${tag}${i}`.slice(0, 15);
      const address = `${subnet}.${i + 2}`;
      ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", netns);
      ip("link", "set", outside, "master", bridge, "up");
      ip("-n", netns, "addr", "add", `${address}/24`, "dev", "eth0");
      ip("-n", netns, "link", "set", "eth0", "up");
      ip("-n", netns, "link", "set", "lo", "up");
      ip("-n", netns, "route", "add", "default", "via", `${subnet}.1`);
      hosts[name] = { name, netns, ip: address, prefix: ["nsenter", `--net=/var/run/netns/${netns}`, "--"] };
    });
    return { hosts, gateway: `${subnet}.1`, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
