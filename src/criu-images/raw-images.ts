/**
 * Files in a CRIU image directory that are not protobuf images (criu/image-desc.c marks them raw):
 * recognised by name so that they are reported as what they are instead of misparsed.
 */
const RAW_IMAGES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^pages-\d+\.img$/, "memory pages (raw 4 KiB pages indexed by a pagemap image)"],
  [/^pages-shmem-\d+\.img$/, "shared memory pages (raw, legacy layout)"],
  [/^(ifaddr|route6?|rule)-\d+\.img$/, "network configuration saved by iproute2 (raw)"],
  [/^ip6?tables-\d+\.img$/, "iptables-save output (raw text)"],
  [/^nftables-\d+\.img$/, "nftables ruleset (raw text)"],
  [/^tmpfs(-dev)?-\d+\.tar\.gz\.img$/, "tmpfs contents (gzip'd tar)"],
  [/^netns-(ct|exp)-\d+\.img$/, "conntrack data (raw)"],
];

/** What a raw image holds, or undefined when the name is not one of CRIU's raw images. */
export function rawImageKind(fileName: string): string | undefined {
  const base = fileName.replace(/^.*\//, "");
  return RAW_IMAGES.find(([re]) => re.test(base))?.[1];
}
