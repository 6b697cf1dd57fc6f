/**
 * The kubelet's archive name: `checkpoint-<pod>_<namespace>-<container>-<time.RFC3339>.tar`, the time
 * in the node's local zone with its offset (Go's RFC3339: seconds, "Z" for UTC, else "+hh:mm").
 */
export function checkpointFileName(pod: string, namespace: string, container: string, at: Date): string {
  return `checkpoint-${pod}_${namespace}-${container}-${rfc3339Local(at)}.tar`;
}

export function rfc3339Local(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const offsetMin = -d.getTimezoneOffset();
  const zone =
    offsetMin === 0 ? "Z" : `${offsetMin > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offsetMin) / 60))}:${pad(Math.abs(offsetMin) % 60)}`;
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`
  );
}
