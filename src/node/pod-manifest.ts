/**
 * Kubernetes Pod manifests (YAML or JSON) as the node agent accepts them: the subset of v1.Pod a
 * single node can run without an API server. Unknown fields are ignored, as the kubelet does for
 * static pods; a field we cannot honour is refused by name rather than silently dropped.
 */
import { parseAllDocuments } from "yaml";
import { z } from "zod";

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsLabel = (what: string) =>
  z
    .string()
    .max(63)
    .regex(NAME, `${what} must be a DNS label: lower-case letters, digits and '-'`);

const EnvVar = z.object({ name: z.string().min(1), value: z.string().default("") });

const VolumeMount = z.object({
  name: z.string().min(1),
  mountPath: z.string().regex(/^\//, "mountPath must be an absolute path"),
  readOnly: z.boolean().default(false),
});

const Volume = z
  .object({
    name: dnsLabel("volume name"),
    emptyDir: z.object({}).loose().optional(),
    hostPath: z
      .object({
        path: z.string().regex(/^\//, "hostPath.path must be an absolute path"),
        type: z.enum(["", "Directory", "DirectoryOrCreate", "File"]).default(""),
      })
      .optional(),
  })
  .refine((v) => (v.emptyDir ? 1 : 0) + (v.hostPath ? 1 : 0) === 1, "a volume must be exactly one of emptyDir or hostPath (the kinds this node supports)");

const Container = z.object({
  name: dnsLabel("container name"),
  image: z.string().min(1),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(EnvVar).default([]),
  workingDir: z.string().optional(),
  ports: z.array(z.object({ containerPort: z.number().int(), protocol: z.string().optional(), name: z.string().optional() })).default([]),
  imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
  volumeMounts: z.array(VolumeMount).default([]),
});

export const PodManifestSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Pod"),
  metadata: z.object({
    name: dnsLabel("pod name"),
    namespace: dnsLabel("namespace").default("default"),
    uid: z.string().optional(),
    labels: z.record(z.string(), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).default({}),
  }),
  spec: z.object({
    containers: z.array(Container).min(1),
    restartPolicy: z.enum(["Always", "OnFailure", "Never"]).default("Always"),
    hostname: z.string().optional(),
    terminationGracePeriodSeconds: z.number().int().nonnegative().default(30),
    initContainers: z.array(z.unknown()).max(0, "initContainers are not supported by this node").optional(),
    volumes: z.array(Volume).default([]),
    hostNetwork: z.literal(false, "hostNetwork pods are not supported by this node").optional(),
    /** A PodCheckpoint of the pod's namespace: the pod is restored from it instead of created (KEP-5823). */
    restoreFrom: z.string().max(253).regex(NAME, "spec.restoreFrom must name a PodCheckpoint: lower-case letters, digits and '-'").optional(),
  }),
});

export type PodManifest = z.infer<typeof PodManifestSchema>;
export type ContainerManifest = PodManifest["spec"]["containers"][number];
export type VolumeManifest = PodManifest["spec"]["volumes"][number];

/** Pod annotation asking the checkpoint to include established TCP connections (CRIU --tcp-established). */
export const TCP_ESTABLISHED_ANNOTATION = "checkpoint.ckpt.dev/tcp-established";

/**
 * The Pod a restore makes: one container, named as given, whose image is the checkpoint (an archive
 * path or a checkpoint image: CRI-O's rule), in JSON text as applyPod takes it.
 */
export function restoredPodManifest(req: { namespace: string; name: string; source: string }, container: string): string {
  return JSON.stringify({ apiVersion: "v1", kind: "Pod", metadata: { name: req.name, namespace: req.namespace }, spec: { containers: [{ name: container, image: req.source }] } });
}

export class ManifestError extends Error {
  override name = "ManifestError";
}

/**
 * The one document of a Kubernetes object's YAML or JSON text (JSON is YAML), read by its schema;
 * what is wrong is given to `fail` as one line naming the source and the field.
 */
export function parseOneDocument<T>(text: string, source: string, kind: string, schema: z.ZodType<T>, fail: (message: string) => Error): T {
  const docs = parseAllDocuments(text).filter((d) => d.contents !== null);
  if (docs.length !== 1) throw fail(`${source}: expected one ${kind} document, found ${docs.length}`);
  const doc = docs[0]!;
  if (doc.errors.length) throw fail(`${source}: ${doc.errors[0]!.message.split("\n")[0]}`);
  const parsed = schema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail(`${source}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  return parsed.data;
}

/** One Pod from YAML or JSON text (JSON is YAML); errors name the field. */
export function parsePodManifest(text: string, source = "manifest"): PodManifest {
  const pod = parseOneDocument(text, source, "Pod", PodManifestSchema, (m) => new ManifestError(m));
  const names = new Set<string>();
  const volumes = new Set(pod.spec.volumes.map((v) => v.name));
  if (volumes.size !== pod.spec.volumes.length) throw new ManifestError(`${source}: spec.volumes: duplicate volume name`);
  for (const c of pod.spec.containers) {
    if (names.has(c.name)) throw new ManifestError(`${source}: spec.containers: duplicate container name ${c.name}`);
    names.add(c.name);
    for (const m of c.volumeMounts) {
      if (!volumes.has(m.name)) throw new ManifestError(`${source}: container ${c.name}: volumeMount ${m.name} names no volume of the pod`);
    }
  }
  return pod;
}
