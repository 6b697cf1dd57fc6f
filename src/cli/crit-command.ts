/**
 * `ckpt crit …`: crit's verbs and flags (decode, encode, show, info, x), so that a script ports by
 * replacing `crit` with `ckpt crit`; decode also takes several inputs or a directory at once.
 */
import { Command, Option } from "commander";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeImage, encodeImage, imageInfo } from "../criu-images/image-file.js";
import { stringifyPython } from "../criu-images/json-text.js";
import { listImageFiles } from "../criu-images/image-dir.js";
import { describeError, UserError } from "./errors.js";
import { inputName, readInput, writeOutput, writeStdout } from "./io.js";

function decodeOne(path: string | undefined, pretty: boolean, nopl = false): string {
  const doc = decodeImage(readInput(path), inputName(path), { pretty, nopl });
  return stringifyPython(doc, pretty ? 4 : null);
}

/** Several images, or every image of a directory, each to OUT/<name>.json. Returns failures. */
function decodeMany(inputs: string[], outDir: string, pretty: boolean): number {
  mkdirSync(outDir, { recursive: true });
  let failures = 0;
  const files: string[] = [];
  for (const input of inputs) {
    if (statSync(input).isDirectory()) files.push(...listImageFiles(input).images.map((n) => join(input, n)));
    else files.push(input);
  }
  for (const file of files) {
    try {
      writeFileSync(join(outDir, file.replace(/^.*\//, "") + ".json"), decodeOne(file, pretty));
    } catch (err) {
      failures++;
      process.stderr.write(`ckpt: ${describeError(err)}\n`);
    }
  }
  return failures;
}

export function critCommand(): Command {
  const crit = new Command("crit").description("decode, encode and explore CRIU images (crit-compatible)");

  crit
    .command("decode")
    .description("convert CRIU images to JSON; several inputs or a directory go to -o DIR, one JSON file per image")
    .option("-i, --in <file>", "image to decode (stdin by default); a directory decodes every image in it")
    .option("-o, --out <file>", "where to write the JSON (stdout by default); a directory for several inputs")
    .option("--pretty", "multi-line, with hex, flag names, dev numbers and addresses as crit --pretty", false)
    .argument("[inputs...]", "more images or directories (decoded into the -o directory)")
    .action((inputs: string[], opts: { in?: string; out?: string; pretty: boolean }) => {
      const all = [...(opts.in ? [opts.in] : []), ...inputs];
      const many = all.length > 1 || (all.length === 1 && statSync(all[0]!).isDirectory());
      if (many) {
        if (!opts.out) throw new UserError("decoding several images needs -o DIR for the JSON files");
        if (decodeMany(all, opts.out, opts.pretty) > 0) process.exitCode = 1;
        return;
      }
      const text = decodeOne(all[0], opts.pretty);
      // crit ends the JSON with a newline on stdout only.
      writeOutput(opts.out, opts.out ? text : text + "\n");
    });

  crit
    .command("encode")
    .description("convert crit JSON back to a CRIU image")
    .option("-i, --in <file>", "JSON to encode (stdin by default)")
    .option("-o, --out <file>", "where to write the image (stdout by default)")
    .action((opts: { in?: string; out?: string }) => {
      const bytes = encodeImage(readInput(opts.in), inputName(opts.in));
      writeOutput(opts.out, bytes);
    });

  crit
    .command("show")
    .description("print an image as pretty JSON")
    .argument("<in>", "image file")
    .option("--nopl", "do not show entry payloads, only their size", false)
    .action((input: string, opts: { nopl: boolean }) => {
      writeStdout(decodeOne(input, true, opts.nopl) + "\n");
    });

  crit
    .command("info")
    .description("print an image's type and number of entries")
    .argument("<in>", "image file")
    .action((input: string) => {
      writeStdout(stringifyPython(imageInfo(readInput(input), input), 4) + "\n");
    });

  crit.addCommand(
    new Command("x")
      .description("explore an image directory")
      .argument("<dir>", "CRIU image directory")
      .addArgument(new Command().createArgument("<what>", "view").choices(["ps", "fds", "mems", "rss", "sk"]))
      .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"))
      .action(async (dir: string, what: string, opts: { format: "text" | "json" }) => {
        const { explore } = await import("./explore-command.js");
        writeStdout(explore(dir, what, opts.format));
      }),
  );
  return crit;
}
