/**
 * Rules of the user's own, from a YAML file:
 *
 *   rules:
 *     - name: internal-api-key
 *       regex: "ikey_[A-Za-z0-9]{32}"     # JavaScript syntax, over bytes as latin1
 *       min_entropy: 3.5                  # optional
 *     - name: canary
 *       literal: "CANARY-7f3a"
 *       description: planted canary       # optional
 *
 * A regex's named group `secret`, when it has one, is the secret; otherwise the whole match. Literals
 * are found in the same single pass as the built-in anchors; a regex without one runs over every
 * byte, so each costs a full pass.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { escapeRegex, MAX_MATCH, type ScanRule } from "./rules.js";

export class RuleFileError extends Error {
  override name = "UserError";
}

const RuleEntry = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, "letters, digits, '.', '_' and '-' only"),
    description: z.string().optional(),
    regex: z.string().min(1).optional(),
    literal: z.string().min(1).max(MAX_MATCH).optional(),
    min_entropy: z.number().min(0).max(8).optional(),
  })
  .strict()
  .refine((r) => (r.regex === undefined) !== (r.literal === undefined), { message: "give exactly one of regex and literal" });

const RuleFileSchema = z.object({ rules: z.array(RuleEntry).min(1) }).strict();


/** Rules from YAML text; errors name `file` and the rule. */
export function parseRuleFile(text: string, file: string): ScanRule[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new RuleFileError(`${file}: not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const checked = RuleFileSchema.safeParse(doc);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const where = issue.path.length ? issue.path.join(".") : "top level";
    throw new RuleFileError(`${file}: ${where}: ${issue.message}`);
  }
  return checked.data.rules.map((r, i): ScanRule => {
    if (r.literal !== undefined) {
      const anchor = Buffer.from(r.literal, "utf8").toString("latin1");
      return { id: r.name, description: r.description ?? `literal ${JSON.stringify(r.literal)}`, pattern: escapeRegex(anchor), flags: "", anchors: [anchor.toLowerCase()], back: 0, minEntropy: r.min_entropy };
    }
    try {
      new RegExp(r.regex!);
    } catch (err) {
      throw new RuleFileError(`${file}: rules.${i}.regex: ${(err as Error).message}`);
    }
    return { id: r.name, description: r.description ?? `/${r.regex}/`, pattern: r.regex!, flags: "", anchors: [], back: 0, minEntropy: r.min_entropy };
  });
}

export function loadRuleFile(file: string): ScanRule[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new RuleFileError(`${file}: cannot read the rules file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseRuleFile(text, file);
}
