/**
 * `ckpt node apply -f`: a file of one or more YAML/JSON documents, each sent to the agent as its
 * own text; the kind decides where (Pods and PodCheckpoints). The agent validates each one.
 */
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { UserError } from "./errors.js";

const Head = z.object({
  kind: z.enum(["Pod", "PodCheckpoint"], "kind must be Pod or PodCheckpoint"),
  spec: z.object({ restoreFrom: z.string().optional() }).loose().optional(),
});

export interface ManifestDocument {
  kind: "Pod" | "PodCheckpoint";
  /** The document alone, as JSON text. */
  text: string;
  /** A Pod restored from a PodCheckpoint (spec.restoreFrom). */
  restore: boolean;
}

export function splitManifests(text: string, file: string): ManifestDocument[] {
  const docs = parseAllDocuments(text).filter((d) => d.contents !== null);
  if (docs.length === 0) throw new UserError(`${file}: no document`);
  return docs.map((doc, i) => {
    const where = docs.length > 1 ? `${file}: document ${i + 1}` : file;
    if (doc.errors.length) throw new UserError(`${where}: ${doc.errors[0]!.message.split("\n")[0]}`);
    const value: unknown = doc.toJS();
    const head = Head.safeParse(value);
    if (!head.success) throw new UserError(`${where}: ${head.error.issues[0]!.path.join(".") || "(top level)"}: ${head.error.issues[0]!.message}`);
    return { kind: head.data.kind, text: JSON.stringify(value), restore: head.data.spec?.restoreFrom !== undefined };
  });
}
