/**
 * `ckpt image build ARCHIVE IMAGE` and `ckpt image inspect IMAGE`: checkpoint archives as OCI images
 * (oci:DIR[:TAG], oci-archive:FILE[:TAG] or HOST/REPO[:TAG]), and what such an image says it holds.
 */
import { Command, Option } from "commander";
import { ImageError } from "../node/images/image-errors.js";
import { buildCheckpointImage } from "../restore/checkpoint-image.js";
import { CompressionError } from "../restore/layer-blob.js";
import { credentialsFor } from "../restore/auth-file.js";
import { inspectImage, type ImageInspection } from "../restore/image-inspect.js";
import { parseImageTarget } from "../restore/image-target.js";
import { publishImage } from "../restore/publish.js";
import type { Credentials } from "../restore/registry-push.js";
import { identityFrom, identityOption } from "./checkpoint-arg.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";

const collect = (value: string, previous: string[]) => [...previous, value];

/** Image and compression errors already name the reference, URL or file: the CLI reports them as they are. */
async function reported<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ImageError || err instanceof CompressionError) throw new UserError(err.message);
    throw err;
  }
}

interface BuildOpts {
  compression: "gzip" | "zstd";
  insecureRegistry: string[];
  username?: string;
  password?: string;
  authfile?: string;
  identity?: string;
}

export function imageCommand(): Command {
  const image = new Command("image").description("checkpoint archives as OCI images");
  image
    .command("build")
    .description("build a single-layer OCI checkpoint image from a checkpoint archive and write or push it")
    .argument("<archive>", "checkpoint archive (tar, tar.gz, tar.zst, …) or unpacked directory")
    .argument("<image>", "oci:DIR[:TAG], oci-archive:FILE[:TAG] or REGISTRY/REPO[:TAG]")
    .addOption(new Option("--compression <kind>", "layer compression").choices(["gzip", "zstd"]).default("gzip"))
    .option("--insecure-registry <host>", "plain HTTP for this registry (repeatable; loopback always is)", collect, [])
    .option("--username <user>", "registry user (with --password)")
    .option("--password <password>", "registry password")
    .option("--authfile <file>", "docker-style auth file with registry credentials")
    .addOption(identityOption())
    .action(async (archive: string, imageText: string, opts: BuildOpts) => {
      const target = await reported(async () => parseImageTarget(imageText));
      let credentials: Credentials | undefined;
      if ((opts.username === undefined) !== (opts.password === undefined)) throw new UserError("--username and --password go together");
      if (opts.username !== undefined) credentials = { username: opts.username, password: opts.password! };
      else if (opts.authfile && target.kind === "registry") credentials = await reported(async () => credentialsFor(opts.authfile!, target.ref.registry));
      const built = await reported(() => buildCheckpointImage(archive, { compression: opts.compression, open: identityFrom(opts.identity) }));
      try {
        const digest = await reported(() => publishImage(built, target, { insecureRegistries: opts.insecureRegistry, ...(credentials ? { credentials } : {}) }));
        for (const r of built.refused) process.stderr.write(`ckpt: warning: ${archive}: ${r.name} left out of the image: ${r.reason}\n`);
        writeStdout(`${digest}\n`);
      } finally {
        built.dispose();
      }
    });
  image
    .command("inspect")
    .description("show a checkpoint image's annotations and layer, and whether it is a checkpoint image")
    .argument("<image>", "oci:DIR[:TAG], oci-archive:FILE[:TAG] or REGISTRY/REPO[:TAG|@DIGEST]")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
    .option("--insecure-registry <host>", "plain HTTP for this registry (repeatable; loopback always is)", collect, [])
    .action(async (imageText: string, opts: { format: "text" | "json"; insecureRegistry: string[] }) => {
      const info = await reported(() => inspectImage(parseImageTarget(imageText), { insecureRegistries: opts.insecureRegistry }));
      writeStdout(opts.format === "json" ? JSON.stringify(info, null, 2) + "\n" : inspectionText(info));
    });
  return image;
}

export function inspectionText(info: ImageInspection): string {
  const c = info.checkpoint;
  const rows: Array<[string, string | undefined]> = [
    ["Image", info.image],
    ["Manifest digest", info.manifestDigest],
    ["Checkpoint image", c.isCheckpoint ? `yes (${c.markedBy.join(", ")} annotations)` : "no"],
    ["Container", c.container],
    ["Pod", c.pod],
    ["Namespace", c.namespace],
    ["Engine", c.engine],
    ["Base image", c.baseImage],
    ["Base image ID", c.baseImageId],
    ["Runtime", c.runtime],
    ["CRIU version", c.criuVersion],
    ["Host", [c.hostArch, c.hostKernel].filter(Boolean).join(" ") || undefined],
    ["Platform", info.os && info.architecture ? `${info.os}/${info.architecture}` : undefined],
  ];
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined && r[1] !== "");
  const width = Math.max(...shown.map(([k]) => k.length)) + 1;
  let out = shown.map(([k, v]) => `${(k + ":").padEnd(width)} ${v}\n`).join("");
  for (const [i, l] of info.layers.entries()) out += `Layer ${i}: ${l.digest} ${l.size} bytes ${l.mediaType}${l.diffId ? ` (diffID ${l.diffId})` : ""}\n`;
  out += "Annotations:\n";
  for (const k of Object.keys(info.annotations).sort()) out += `  ${k}=${info.annotations[k]}\n`;
  return out;
}
