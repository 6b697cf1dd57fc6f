/** The Kubernetes static token file, read as kube-apiserver's --token-auth-file. */
import { describe, expect, it } from "vitest";
import { CsvError, parseCsv } from "../../src/kubelet-endpoint/csv-records.js";
import { TokenAuthenticator, TokenFileError } from "../../src/kubelet-endpoint/token-file.js";

describe("CSV as Go's encoding/csv reads it", () => {
  it("splits fields, unquotes, keeps spaces, skips blank lines, reads CRLF", () => {
    expect(parseCsv('a,b,c\r\n\n"x, y","he said ""hi""", z\n')).toEqual([
      { line: 1, fields: ["a", "b", "c"] },
      { line: 3, fields: ["x, y", 'he said "hi"', " z"] },
    ]);
  });

  it("lets a quoted field span lines and keeps counting lines", () => {
    expect(parseCsv('"a\nb",c\nd,e')).toEqual([
      { line: 1, fields: ["a\nb", "c"] },
      { line: 3, fields: ["d", "e"] },
    ]);
  });

  it("refuses a bare quote, text after a closing quote, and an unclosed quote", () => {
    expect(() => parseCsv('a,b"c')).toThrow(new CsvError('line 1: bare " in non-quoted field'));
    expect(() => parseCsv('ok\n"a"b,c')).toThrow(new CsvError('line 2: extraneous or missing " in quoted field'));
    expect(() => parseCsv('a,"b')).toThrow(new CsvError("line 1: quoted field is not closed"));
  });
});

describe("token file", () => {
  const FILE = [
    'token-a,alice,uid-a,"system:masters,ops"',
    "token-b,bob,uid-b",
    ",nobody,uid-empty", // an empty token is skipped, never matched by an empty bearer
    "token-c,carol,uid-c,single",
    "token-b,bobby,uid-bb", // repeated: the later line wins
  ].join("\n");

  it("maps each token to user, uid and groups", () => {
    const tokens = TokenAuthenticator.parse(FILE);
    expect(tokens.authenticate("token-a")).toEqual({ name: "alice", uid: "uid-a", groups: ["system:masters", "ops"] });
    expect(tokens.authenticate("token-c")).toEqual({ name: "carol", uid: "uid-c", groups: ["single"] });
    expect(tokens.authenticate("token-b")).toEqual({ name: "bobby", uid: "uid-bb", groups: [] });
    expect(tokens.size).toBe(4);
  });

  it("knows nothing else, including prefixes and the empty token", () => {
    const tokens = TokenAuthenticator.parse(FILE);
    for (const t of ["", "token-", "token-a ", "TOKEN-A", "token-ab"]) expect(tokens.authenticate(t)).toBeUndefined();
  });

  it("refuses a line with fewer than 3 columns, naming file and line", () => {
    expect(() => TokenAuthenticator.parse("t,u,i\nt2,u2\n", "/etc/tokens.csv")).toThrow(
      new TokenFileError("/etc/tokens.csv line 2: must have at least 3 columns (token, user name, user uid), found 2"),
    );
  });

  it("reports CSV errors with the file name", () => {
    expect(() => TokenAuthenticator.parse('t,u,"i', "/etc/tokens.csv")).toThrow(TokenFileError);
    expect(() => TokenAuthenticator.parse('t,u,"i', "/etc/tokens.csv")).toThrow(/^\/etc\/tokens.csv: line 1: quoted field is not closed$/);
  });
});
