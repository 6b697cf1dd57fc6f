/**
 * age identity files (what `age-keygen` and `ckpt seal keygen` write): one `AGE-SECRET-KEY-1…` a
 * line, with `#` comments and blank lines. A bad line is named by its number only: it may be a key.
 */
import { readFileSync } from "node:fs";
import { SealError } from "./stream-cipher.js";

export interface Identities {
  /** Where the keys came from, for messages. */
  source: string;
  keys: string[];
}

const IDENTITY = /^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/;

export function parseIdentityFile(text: string, source: string): Identities {
  const keys: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    if (!IDENTITY.test(line)) throw new SealError(`${source}: line ${i + 1} is not an age identity (AGE-SECRET-KEY-1…)`);
    keys.push(line);
  });
  if (keys.length === 0) throw new SealError(`${source}: no age identity (AGE-SECRET-KEY-1…) in the file`);
  return { source, keys };
}

export function readIdentityFile(path: string): Identities {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SealError(`${path}: cannot read the identity file (${e.code === "ENOENT" ? "no such file" : e.code ?? e.message})`);
  }
  return parseIdentityFile(text, path);
}

/** The text of a new identity file, as age-keygen writes it. */
export function identityFileText(identity: string, recipient: string, created = new Date()): string {
  return `# created: ${created.toISOString().replace(/\.\d+Z$/, "Z")}\n# public key: ${recipient}\n${identity}\n`;
}
