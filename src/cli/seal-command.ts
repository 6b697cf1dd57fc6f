/**
 * `ckpt seal ARCHIVE -r RECIPIENT... [-o OUT]`, `ckpt seal keygen -o KEYFILE` and
 * `ckpt unseal SEALED -i IDENTITY [-o OUT]`: archives encrypted at rest in the age format.
 */
import { Command } from "commander";
import { SEALED_SUFFIX } from "../checkpoint/seal/age-format.js";
import { identityFileText, readIdentityFile } from "../checkpoint/seal/identity-file.js";
import { writeFileAtomically } from "../checkpoint/writer/atomic-file.js";
import { UserError } from "./errors.js";
import { writeStdout } from "./io.js";

const collect = (v: string, prev: string[]) => [...prev, v];

/** A new identity file at `output`, never overwriting one; prints its recipient. */
async function keygen(output: string | undefined): Promise<void> {
  if (!output) throw new UserError("seal keygen: give -o KEYFILE (the identity is secret: it is not printed)");
  const { newIdentity } = await import("../checkpoint/seal/file-key.js");
  const { identity, recipient } = await newIdentity();
  const text = identityFileText(identity, recipient);
  await writeFileAtomically(output, async (fh) => (await fh.write(text)).bytesWritten);
  writeStdout(`${recipient}\n`);
}

export function sealCommand(): Command {
  // `keygen` is read as a word rather than a subcommand: commander would give it seal's -o and -r.
  return new Command("seal")
    .description(`encrypt an archive for age recipients, streaming (tampering is detected on reading);
\`ckpt seal keygen -o KEYFILE\` makes an identity file (mode 0600) and prints its recipient`)
    .argument("<archive>", "the archive to seal (any file), or keygen (./keygen for a file of that name)")
    .option("-r, --recipient <age1…>", "an age recipient (repeatable: each of them can open it)", collect, [] as string[])
    .option("-o, --output <file>", `the sealed file (default: ARCHIVE${SEALED_SUFFIX}), or the new identity file; never overwritten`)
    .action(async (archive: string, opts: { recipient: string[]; output?: string }) => {
      if (archive === "keygen") return keygen(opts.output);
      if (opts.recipient.length === 0) throw new UserError(`${archive}: give --recipient age1… (ckpt seal keygen -o KEYFILE makes one)`);
      const { sealFile } = await import("../checkpoint/seal/sealed-file.js");
      const output = opts.output ?? archive + SEALED_SUFFIX;
      const bytes = await sealFile(archive, output, opts.recipient);
      writeStdout(`${output}: sealed for ${opts.recipient.length} recipient${opts.recipient.length === 1 ? "" : "s"} (${bytes} bytes)\n`);
    });
}

export function unsealCommand(): Command {
  return new Command("unseal")
    .description("decrypt a sealed archive with an age identity file (refused whole if any byte was changed)")
    .argument("<sealed>", "the sealed archive")
    .option("-i, --identity <file>", "age identity file (default: $CKPT_IDENTITY)")
    .option("-o, --output <file>", `the archive (default: SEALED without ${SEALED_SUFFIX}; never overwritten)`)
    .action(async (sealed: string, opts: { identity?: string; output?: string }) => {
      const identityFile = opts.identity ?? (process.env.CKPT_IDENTITY || undefined);
      if (!identityFile) throw new UserError(`${sealed}: give --identity (or set CKPT_IDENTITY)`);
      let output = opts.output;
      if (output === undefined) {
        if (!sealed.endsWith(SEALED_SUFFIX) || sealed.length === SEALED_SUFFIX.length) throw new UserError(`${sealed}: name does not end in ${SEALED_SUFFIX}: give -o`);
        output = sealed.slice(0, -SEALED_SUFFIX.length);
      }
      const { unsealFile } = await import("../checkpoint/seal/sealed-file.js");
      const bytes = await unsealFile(sealed, output, readIdentityFile(identityFile));
      writeStdout(`${output}: unsealed (${bytes} bytes)\n`);
    });
}
