import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSchemaFiles, TABLES_FILE } from "../../src/criu-images/schema-registry.js";

const DIST = join(import.meta.dirname, "../../dist");

describe("compiled schema tables", () => {
  const fromProtos = parseSchemaFiles();

  it("cover every image message with its crit options", () => {
    expect(Object.keys(fromProtos.messages).length).toBeGreaterThan(150);
    const vma = Object.fromEntries(fromProtos.messages["vma_entry"]!.map((row) => [row[0], row]));
    expect(vma.start).toEqual(["start", 1, "uint64", 1, "", { hex: true }]);
    expect(vma.prot).toEqual(["prot", 5, "uint32", 1, "", { flags: "mmap.prot" }]);
    const inet = Object.fromEntries(fromProtos.messages["inet_sk_entry"]!.map((row) => [row[0], row]));
    expect(inet.src_addr).toEqual(["src_addr", 11, "uint32", 2, "", { ipadd: true }]);
    expect(inet.family).toEqual(["family", 3, "uint32", 1, "", { dict: "sk" }]);
    expect(fromProtos.enums["fd_types"]).toContainEqual(["MEMFD", 18]);
  });

  // npm test builds first; the CLI and the library in dist/ load these files instead of the .proto files.
  for (const where of ["cli/schema", "src/criu-images/schema"]) {
    it(`in dist/${where} are exactly what the .proto files say`, () => {
      const compiled = JSON.parse(readFileSync(join(DIST, where, TABLES_FILE), "utf8"));
      expect(compiled).toEqual(JSON.parse(JSON.stringify(fromProtos)));
    });
  }
});
