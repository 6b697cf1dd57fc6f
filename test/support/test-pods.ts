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
