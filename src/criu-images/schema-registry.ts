/**
 * Our protobuf schemas (schema/*.proto) as flat field tables that the wire codec and the crit JSON
 * converter walk. A build compiles the .proto files into schema-tables.json once, so the codec starts
 * without parsing a schema language; running from source, the .proto files are parsed with protobufjs.
 * protobufjs's own runtime codec is not used: the codec needs lossless 64-bit values, presence of every
 * field, raw bytes of invalid UTF-8 strings and crit's leniency on missing required fields.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tablesFromRoot, type SchemaTables } from "./schema-tables.js";

export type ScalarKind =
  | "int32" | "int64" | "uint32" | "uint64" | "sint32" | "sint64"
  | "fixed32" | "fixed64" | "sfixed32" | "sfixed64" | "bool" | "string" | "bytes" | "float" | "double";

export interface CritOptions {
  hex: boolean;
  ipadd: boolean;
  dev: boolean;
  odev: boolean;
  flags?: string;
  dict?: string;
  conv?: string;
}

export interface FieldInfo {
  readonly name: string;
  readonly number: number;
  readonly kind: ScalarKind | "enum" | "message";
  readonly repeated: boolean;
  readonly required: boolean;
  /** Wire type of one unpacked element. */
  readonly wireType: 0 | 1 | 2 | 5;
  readonly is64: boolean;
  readonly crit: CritOptions;
  readonly enumType?: EnumInfo;
  readonly messageType?: MessageType;
}

export interface EnumInfo {
  readonly name: string;
  readonly byValue: ReadonlyMap<number, string>;
  readonly byName: ReadonlyMap<string, number>;
}

export interface MessageType {
  readonly name: string;
  /** In field-number order: crit prints and protobuf serialises in this order. */
  readonly fields: readonly FieldInfo[];
  readonly byNumber: ReadonlyMap<number, FieldInfo>;
  readonly byName: ReadonlyMap<string, FieldInfo>;
}

const WIRE_TYPES: Record<ScalarKind, 0 | 1 | 2 | 5> = {
  int32: 0, int64: 0, uint32: 0, uint64: 0, sint32: 0, sint64: 0, bool: 0,
  fixed64: 1, sfixed64: 1, double: 1, fixed32: 5, sfixed32: 5, float: 5, string: 2, bytes: 2,
};
const SIXTY_FOUR = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);

export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), "schema");
export const TABLES_FILE = "schema-tables.json";

/** The .proto files of the schema, parsed with protobufjs (loaded only here). */
export function parseSchemaFiles(dir = SCHEMA_DIR): SchemaTables {
  const protobuf = createRequire(import.meta.url)("protobufjs") as typeof import("protobufjs");
  const files = readFileSync(join(dir, "index.txt"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target.replace(/^.*\//, ""));
  root.loadSync(files.map((f) => join(dir, f)), { keepCase: true });
  root.resolveAll();
  return tablesFromRoot(root as never);
}

let tables: SchemaTables | undefined;

function schemaTables(): SchemaTables {
  if (!tables) {
    const compiled = join(SCHEMA_DIR, TABLES_FILE);
    tables = existsSync(compiled) ? (JSON.parse(readFileSync(compiled, "utf8")) as SchemaTables) : parseSchemaFiles();
  }
  return tables;
}

const messageCache = new Map<string, MessageType>();
const enumCache = new Map<string, EnumInfo>();

function enumInfo(name: string): EnumInfo {
  let info = enumCache.get(name);
  if (!info) {
    const values = schemaTables().enums[name];
    if (!values) throw new Error(`schema: no enum ${name}`);
    const byName = new Map(values);
    // Aliases: the first name declared for a number is the one printed.
    const byValue = new Map<number, string>();
    for (const [n, v] of values) if (!byValue.has(v)) byValue.set(v, n);
    info = { name, byValue, byName };
    enumCache.set(name, info);
  }
  return info;
}

/** The message type with this (package-less) name, e.g. "core_entry"; built on first use. */
export function messageType(name: string): MessageType {
  const cached = messageCache.get(name);
  if (cached) return cached;
  const rows = schemaTables().messages[name];
  if (!rows) throw new Error(`schema: no message ${name}`);
  const fields: FieldInfo[] = [];
  const type: MessageType = { name, fields, byNumber: new Map(), byName: new Map() };
  // Registered before its fields are built so that recursive types (cgroup_dir_entry) terminate.
  messageCache.set(name, type);
  for (const [fieldName, number, kind, label, ref, opts] of [...rows].sort((a, b) => a[1] - b[1])) {
    const common = {
      name: fieldName,
      number,
      repeated: label === 2,
      required: label === 1,
      crit: { hex: !!opts.hex, ipadd: !!opts.ipadd, dev: !!opts.dev, odev: !!opts.odev, flags: opts.flags, dict: opts.dict, conv: opts.conv },
    };
    let field: FieldInfo;
    if (kind === "enum") field = { ...common, kind, wireType: 0, is64: false, enumType: enumInfo(ref) };
    else if (kind === "message") field = { ...common, kind, wireType: 2, is64: false, messageType: messageType(ref) };
    else if (kind in WIRE_TYPES) field = { ...common, kind: kind as ScalarKind, wireType: WIRE_TYPES[kind as ScalarKind], is64: SIXTY_FOUR.has(kind) };
    else throw new Error(`schema: ${name}.${fieldName} has unsupported type ${kind}`);
    fields.push(field);
    (type.byNumber as Map<number, FieldInfo>).set(number, field);
    (type.byName as Map<string, FieldInfo>).set(fieldName, field);
  }
  return type;
}

/** Every message type of the schema, for tests and tools that walk them all. */
export function allMessageTypeNames(): string[] {
  return Object.keys(schemaTables().messages);
}
