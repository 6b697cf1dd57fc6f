/**
 * Proves that our protobuf schemas (src/criu-images/schema/*.proto) are exactly CRIU 4.2.1's: every
 * message and enum that the reference crit (pycriu) knows is compared, field by field, with what
 * protobufjs parses from our files — names, numbers, labels, types, referenced types, explicit
 * defaults and the (criu) options that drive crit's JSON rendering.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { beforeAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..", "..");
const schemaDir = join(repoRoot, "src", "criu-images", "schema");
const dumpScript = join(repoRoot, "test", "support", "pycriu-descriptors.py");

const PYTHON = "/usr/bin/python3";
const PYCRIU_DIST = "/opt/ckpt-tools/sid-root/usr/lib/python3/dist-packages";

const missing = !existsSync(PYTHON)
  ? PYTHON
  : !existsSync(join(PYCRIU_DIST, "pycriu"))
    ? join(PYCRIU_DIST, "pycriu")
    : undefined;

type CriuOpts = Record<string, string | boolean>;

interface PyField {
  name: string;
  number: number;
  label: "optional" | "required" | "repeated";
  type: string;
  typeName: string | null;
  default?: string | number | boolean;
  packed?: boolean;
  oneof?: string;
  criu: CriuOpts;
}

interface PyDump {
  pycriuVersion: string | null;
  files: Record<string, { module: string; package: string; syntax: string | null; dependencies: string[] }>;
  messages: Record<string, { file: string; fields: PyField[] }>;
  enums: Record<string, { file: string; values: { name: string; number: number }[] }>;
  extensions: Record<string, { file: string; number: number; extendee: string; typeName: string | null }>;
}

/** The import crit's opts.proto needs for its `extend`; our opts.proto leaves both out (see there). */
const DESCRIPTOR_PROTO = "google/protobuf/descriptor.proto";

function schemaFiles(): string[] {
  return readFileSync(join(schemaDir, "index.txt"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
}

/** Loads schema files the way the codec's loader does: imports resolve by base name inside schema/. */
function loadSchemas(files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(schemaDir, target.replace(/^.*\//, ""));
  root.loadSync(files.map((f) => join(schemaDir, f)), { keepCase: true });
  root.resolveAll();
  return root;
}

function walk(ns: protobuf.NamespaceBase, types: Map<string, protobuf.Type>, enums: Map<string, protobuf.Enum>) {
  for (const nested of ns.nestedArray) {
    const name = nested.fullName.replace(/^\./, "");
    if (nested instanceof protobuf.Type) types.set(name, nested);
    else if (nested instanceof protobuf.Enum) enums.set(name, nested);
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) walk(nested, types, enums);
  }
}

function labelOf(f: protobuf.Field): string {
  if (f.rule === "repeated") return "repeated";
  if (f.rule === "required") return "required";
  return "optional";
}

function kindOf(f: protobuf.Field): { type: string; typeName: string | null } {
  const r = f.resolvedType;
  if (r instanceof protobuf.Enum) return { type: "enum", typeName: r.fullName.replace(/^\./, "") };
  if (r instanceof protobuf.Type) return { type: "message", typeName: r.fullName.replace(/^\./, "") };
  return { type: f.type, typeName: null };
}

const show = (v: unknown) => (v === undefined ? "(unset)" : JSON.stringify(v));

/** Every way `ours` differs from pycriu's field, as readable lines naming the message and field. */
function fieldDiffs(msg: string, py: PyField, ours: protobuf.Field): string[] {
  const where = `${msg}.${py.name} (#${py.number})`;
  const out: string[] = [];
  const diff = (what: string, theirs: unknown, mine: unknown) => {
    if (JSON.stringify(theirs) !== JSON.stringify(mine)) out.push(`${where}: ${what}: pycriu ${show(theirs)}, ours ${show(mine)}`);
  };
  diff("name", py.name, ours.name);
  diff("label", py.label, labelOf(ours));
  // The codec's loader relies on these two flags, so they must agree with the rule.
  diff("Field.required", py.label === "required", ours.required);
  diff("Field.repeated", py.label === "repeated", ours.repeated);
  const kind = kindOf(ours);
  diff("type", py.type, kind.type);
  diff("referenced type", py.typeName, kind.typeName);
  diff("oneof", py.oneof, ours.partOf?.name);

  const options: Record<string, unknown> = ours.options ?? {};
  const criu: CriuOpts = {};
  for (const [key, value] of Object.entries(options)) {
    if (key.startsWith("(criu).")) criu[key.slice("(criu).".length)] = value as string | boolean;
    else if (key !== "default" && key !== "packed") out.push(`${where}: unexpected option ${key} = ${show(value)}`);
  }
  diff("(criu) options", sortKeys(py.criu), sortKeys(criu));
  const ourDefault = options.default;
  diff("default", py.default, typeof py.default === "string" && typeof ourDefault === "number" ? String(ourDefault) : ourDefault);
  diff("packed", py.packed, options.packed);
  return out;
}

function sortKeys(o: CriuOpts): CriuOpts {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

describe.skipIf(missing !== undefined)(
  missing ? `schema conformance with crit 4.2.1 (SKIPPED: ${missing} is missing)` : "schema conformance with crit 4.2.1",
  () => {
    let py: PyDump;
    let root: protobuf.Root;
    const ourTypes = new Map<string, protobuf.Type>();
    const ourEnums = new Map<string, protobuf.Enum>();

    beforeAll(() => {
      const json = execFileSync(PYTHON, [dumpScript], {
        env: { ...process.env, PYTHONPATH: PYCRIU_DIST },
        encoding: "utf8",
        maxBuffer: 64 << 20,
      });
      py = JSON.parse(json) as PyDump;
      root = loadSchemas(schemaFiles());
      walk(root, ourTypes, ourEnums);
    });

    it("is compared against pycriu 4.2.1", () => {
      expect(py.pycriuVersion).toBe("4.2.1");
      expect(Object.keys(py.messages).length).toBeGreaterThan(150);
    });

    it("index.txt lists every schema file, one per CRIU proto file", () => {
      const listed = schemaFiles();
      const onDisk = readdirSync(schemaDir).filter((f) => f.endsWith(".proto"));
      expect([...listed].sort()).toEqual([...onDisk].sort());
      expect(new Set(listed).size).toBe(listed.length);
      expect([...listed].sort()).toEqual(Object.keys(py.files).sort());
    });

    it("every file is package-less proto2 with crit's imports and loads on its own", () => {
      const problems: string[] = [];
      for (const [file, info] of Object.entries(py.files)) {
        const path = join(schemaDir, file);
        if (!existsSync(path)) {
          problems.push(`${file}: missing`);
          continue;
        }
        const text = readFileSync(path, "utf8");
        if (!/^syntax = "proto2";$/m.test(text)) problems.push(`${file}: no syntax = "proto2"`);
        if (/^\s*package\s/m.test(text)) problems.push(`${file}: has a package`);
        if (info.package) problems.push(`${file}: pycriu has package ${info.package}`);
        const imports = [...text.matchAll(/^import\s+"([^"]+)";/gm)].map((m) => m[1]).sort();
        const expected = info.dependencies.filter((d) => d !== DESCRIPTOR_PROTO).sort();
        if (JSON.stringify(imports) !== JSON.stringify(expected)) {
          problems.push(`${file}: imports ${show(imports)}, pycriu ${show(expected)}`);
        }
        try {
          loadSchemas([file]);
        } catch (err) {
          problems.push(`${file}: does not load on its own: ${(err as Error).message}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it("has every pycriu message with the same fields", () => {
      const problems: string[] = [];
      let fieldsCompared = 0;
      for (const [name, msg] of Object.entries(py.messages)) {
        const ours = ourTypes.get(name);
        if (!ours) {
          problems.push(`${name}: message missing from our schema (crit defines it in ${msg.file})`);
          continue;
        }
        const ourFile = ours.filename?.replace(/^.*\//, "");
        if (ourFile !== msg.file) problems.push(`${name}: declared in ${ourFile}, crit declares it in ${msg.file}`);
        const byNumber = new Map(ours.fieldsArray.map((f) => [f.id, f]));
        for (const field of msg.fields) {
          const mine = byNumber.get(field.number);
          if (!mine) {
            problems.push(`${name}.${field.name} (#${field.number}): field missing from our schema`);
            continue;
          }
          problems.push(...fieldDiffs(name, field, mine));
          fieldsCompared++;
        }
        const theirNumbers = new Set(msg.fields.map((f) => f.number));
        for (const f of ours.fieldsArray) {
          if (!theirNumbers.has(f.id)) problems.push(`${name}.${f.name} (#${f.id}): field that crit does not have`);
        }
        if (ours.oneofsArray.length) problems.push(`${name}: has oneofs ${ours.oneofsArray.map((o) => o.name)}`);
      }
      expect(problems).toEqual([]);
      expect(fieldsCompared).toBeGreaterThan(1000);
    });

    it("has every pycriu enum with the same values", () => {
      const problems: string[] = [];
      for (const [name, e] of Object.entries(py.enums)) {
        const ours = ourEnums.get(name);
        if (!ours) {
          problems.push(`${name}: enum missing from our schema (crit defines it in ${e.file})`);
          continue;
        }
        const theirs = e.values.map((v) => `${v.name}=${v.number}`);
        const mine = Object.entries(ours.values).map(([k, v]) => `${k}=${v}`);
        if (JSON.stringify(theirs) !== JSON.stringify(mine)) {
          problems.push(`${name}: values pycriu ${theirs.join(", ")}; ours ${mine.join(", ")}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it("has no message or enum that crit lacks", () => {
      expect([...ourTypes.keys()].filter((n) => !(n in py.messages))).toEqual([]);
      expect([...ourEnums.keys()].filter((n) => !(n in py.enums))).toEqual([]);
    });

    it("leaves out only crit's (criu) extension of google.protobuf.FieldOptions", () => {
      // crit's opts.proto ends with `extend google.protobuf.FieldOptions { optional CRIU_Opts criu = 1018; }`.
      // protobufjs cannot resolve that without google/protobuf/descriptor.proto, and does not need it:
      // it keeps `[(criu).hex = true]` and the like as parsed options, compared field by field above.
      expect(py.extensions).toEqual({
        criu: { file: "opts.proto", number: 1018, extendee: "google.protobuf.FieldOptions", typeName: "CRIU_Opts" },
      });
      expect(py.files["opts.proto"].dependencies).toEqual([DESCRIPTOR_PROTO]);
    });

    it("exposes (criu) options and defaults on protobufjs fields in the shape the codec reads", () => {
      const vma = root.lookupType("vma_entry").fields;
      expect(vma.start.options).toEqual({ "(criu).hex": true });
      expect(vma.prot.options).toEqual({ "(criu).flags": "mmap.prot" });
      const ghost = root.lookupType("ghost_file_entry").fields;
      expect(ghost.rdev.options).toEqual({ "(criu).dev": true, "(criu).odev": true });
      expect(root.lookupType("unix_sk_entry").fields.name.options).toEqual({ "(criu).conv": "unix_name" });
      expect(root.lookupType("unix_sk_entry").fields.mnt_id.options).toEqual({ default: -1 });
      expect(root.lookupType("inet_sk_entry").fields.src_addr.options).toEqual({ "(criu).ipadd": true });
      expect(root.lookupType("inet_sk_entry").fields.family.options).toEqual({ "(criu).dict": "sk" });
      expect(root.lookupType("packet_sock_entry").fields.fanout.options).toEqual({ default: 0xffffffff });
      expect(root.lookupType("user_x86_regs_entry").fields.mode.options).toEqual({ default: "NATIVE" });
      expect(root.lookupType("user_desc_t").fields.read_exec_only.options).toEqual({ default: true });
    });
  },
);
