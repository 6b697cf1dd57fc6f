/**
 * The pods the node tests run: a counter that logs "count N" every 0.1 s, keeps a secret in its
 * memory, writes a file into its root and (first container) listens on TCP 8088.
 */

export const SECRET = "RANDOM_1432_KEY";

export function counterPod(name: string, image: string, containers = ["counter"], annotations: Record<string, string> = {}): string {
  const ctrs = containers
    .map(
      (c, i) => `
  - name: ${c}
    image: ${image}
    command: ["/bin/sh", "-c", "SECRET=${SECRET}; echo written-by-${c} > /tmp/test-file; ${i === 0 ? "nc -l -p 8088 -e cat & " : ""}i=0; while true; do i=$((i+1)); echo count $i; sleep 0.1; done"]`,
    )
    .join("");
  const ann = Object.entries(annotations).map(([k, v]) => `\n    ${k}: "${v}"`).join("");
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default${ann ? `\n  annotations:${ann}` : ""}
spec:
  terminationGracePeriodSeconds: 1
  containers:${ctrs}
`;
}

/**
 * A pod whose containers talk over 127.0.0.1: `server` answers each number `client` sends with
 * "ack N"; each side logs what it sends and receives on stderr ("recv N"; "sent N", "got ack N"),
 * so a lost or repeated message shows in the logs. `counter` logs "count N" every 0.1 s. With
 * `outside` (host:port), `caller` also sends "ping N" to that address every 0.2 s, and ends when
 * the connection does.
 */
export function talkPod(name: string, image: string, outside?: string): string {
  const server = `nc -l -p 9000 -e sh -c 'while read n; do echo "recv $n" >&2; echo "ack $n"; done'`;
  const client = `sleep 1; nc 127.0.0.1 9000 -e sh -c 'i=0; while true; do i=$((i+1)); echo $i; echo "sent $i" >&2; read a; echo "got $a" >&2; sleep 0.1; done'`;
  const counter = "i=0; while true; do i=$((i+1)); echo count $i; sleep 0.1; done";
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default" },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: "server", image, command: ["/bin/sh", "-c", server] },
        { name: "client", image, command: ["/bin/sh", "-c", client] },
        { name: "counter", image, command: ["/bin/sh", "-c", counter] },
        ...(outside ? [{ name: "caller", image, command: ["/bin/sh", "-c", `nc ${outside.replace(":", " ")} -e sh -c 'i=0; while i=$((i+1)); echo "ping $i"; do sleep 0.2; done'`] }] : []),
      ],
    },
  });
}
