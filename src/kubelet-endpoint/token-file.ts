/**
 * Bearer tokens from a Kubernetes static token file: CSV lines `token,user,uid[,"group1,group2"]`,
 * read as kube-apiserver's --token-auth-file is (empty tokens skipped, a repeated token: the later
 * line wins). Lookup compares the presented token with every entry in constant time, so the time
 * taken says nothing about how much of a token was right or where it is in the file.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseCsv } from "./csv-records.js";
import type { UserInfo } from "./user-info.js";

export class TokenFileError extends Error {
  override name = "TokenFileError";
}

interface TokenEntry {
  digest: Buffer;
  user: UserInfo;
}

export class TokenAuthenticator {
  private constructor(private readonly entries: readonly TokenEntry[]) {}

  static parse(text: string, source = "token file"): TokenAuthenticator {
    let records;
    try {
      records = parseCsv(text);
    } catch (err) {
      throw new TokenFileError(`${source}: ${(err as Error).message}`, { cause: err });
    }
    const entries: TokenEntry[] = [];
    for (const { line, fields } of records) {
      if (fields.length < 3) {
        throw new TokenFileError(
          `${source} line ${line}: must have at least 3 columns (token, user name, user uid), found ${fields.length}`,
        );
      }
      const [token, name, uid, groups] = fields as [string, string, string, string | undefined];
      if (token === "") continue;
      const user: UserInfo = { name, uid, groups: groups === undefined ? [] : groups.split(",") };
      entries.push({ digest: digest(token), user });
    }
    return new TokenAuthenticator(entries);
  }

  static load(file: string): TokenAuthenticator {
    return TokenAuthenticator.parse(readFileSync(file, "utf8"), file);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The user the token belongs to, or undefined. */
  authenticate(token: string): UserInfo | undefined {
    // Equal-length digests make timingSafeEqual usable whatever the tokens' lengths; no early exit.
    const presented = digest(token);
    let found: UserInfo | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, presented)) found = entry.user;
    }
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}
