/**
 * Registry credentials from a docker-style auth file (`~/.docker/config.json`, containers-auth.json):
 * `{"auths": {"<host>": {"auth": base64("user:password")}}}`. Credential helpers are not run.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ImageError } from "../node/images/image-errors.js";
import type { Credentials } from "./registry-push.js";

const AuthFile = z.object({
  auths: z.record(z.string(), z.object({ auth: z.string().optional(), username: z.string().optional(), password: z.string().optional() })).optional(),
});

/** The credentials `file` holds for `host` (keys may be written with a scheme or a path), or undefined. */
export function credentialsFor(file: string, host: string): Credentials | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ImageError(`${file}: cannot read the auth file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: z.infer<typeof AuthFile>;
  try {
    parsed = AuthFile.parse(JSON.parse(text));
  } catch {
    throw new ImageError(`${file}: not an auth file ({"auths": {"host": {"auth": "…"}}})`);
  }
  for (const [key, entry] of Object.entries(parsed.auths ?? {})) {
    if (key.replace(/^https?:\/\//, "").replace(/\/.*$/, "") !== host) continue;
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
    if (!entry.auth) continue;
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new ImageError(`${file}: auths.${key}.auth is not base64 of "user:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}
