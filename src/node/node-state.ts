/**
 * What the agent remembers about its pods, on disk so that a restarted agent re-attaches to the
 * containers its predecessor started. One JSON file per pod, replaced atomically (temp + rename),
 * so a crash leaves either the old record or the new one.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { PodManifestSchema } from "./pod-manifest.js";

export const ContainerRecordSchema = z.object({
  name: z.string(),
  id: z.string(),
  createdAt: z.string(),
  restartCount: z.number().int().nonnegative(),
  logPath: z.string(),
  image: z.object({ reference: z.string(), name: z.string(), imageId: z.string(), repoDigest: z.string().optional() }),
  /** The image's unpacked layers, lowest first: the overlay's lower directories. */
  layers: z.array(z.string()),
  /** The checkpoint archive the container was restored from. */
  restoredFrom: z.string().optional(),
  /** Set once the container has ended and will not be restarted. */
  finished: z.boolean().default(false),
  /** Restored lazily and some of its memory pages still on the source node. */
  awaitingPages: z.boolean().optional(),
});
export type ContainerRecord = z.infer<typeof ContainerRecordSchema>;

export const PodRecordSchema = z.object({
  uid: z.string(),
  manifest: PodManifestSchema,
  createdAt: z.string(),
  sandbox: z.object({ id: z.string(), netns: z.string(), ip: z.string(), createdAt: z.string() }),
  containers: z.array(ContainerRecordSchema),
});
export type PodRecord = z.infer<typeof PodRecordSchema>;

export class NodeState {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, "pods");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** Every pod record; an unreadable one is reported and skipped rather than stopping the agent. */
  load(onError: (file: string, err: unknown) => void): PodRecord[] {
    const out: PodRecord[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith(".json")) continue;
      const file = join(this.dir, f);
      try {
        out.push(PodRecordSchema.parse(JSON.parse(readFileSync(file, "utf8"))));
      } catch (err) {
        onError(file, err);
      }
    }
    return out;
  }

  save(pod: PodRecord): void {
    const file = join(this.dir, `${pod.uid}.json`);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(pod, null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, file);
  }

  remove(uid: string): void {
    rmSync(join(this.dir, `${uid}.json`), { force: true });
  }
}
