/**
 * Our protobuf schemas (schema/*.proto), loaded once with protobufjs and turned into flat field tables
 * that the wire codec and the crit JSON converter walk. protobufjs is used for parsing the schema
 * language only: the codec needs things its runtime decoder does not give (lossless 64-bit values,
 * presence of every field, raw bytes of invalid UTF-8 strings, crit's leniency on missing required
 * fields), so the byte-level work is ours.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

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
  /** Resolved lazily: message types refer to each other (and to themselves). */
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

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), "schema");

function loadRoot(): protobuf.Root {
  // A build writes the parsed schema as JSON beside the .proto files: loading it is several times
  // faster than parsing ~80 files, which matters for a one-file `ckpt crit decode`.
  const bundled = join(schemaDir, "schema.json");
  if (existsSync(bundled)) {
    const root = protobuf.Root.fromJSON(JSON.parse(readFileSync(bundled, "utf8")));
    root.resolveAll();
    return root;
  }
  return parseSchemaFiles();
}

export function parseSchemaFiles(): protobuf.Root {
  const files = readFileSync(join(schemaDir, "index.txt"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(schemaDir, target.replace(/^.*\//, ""));
  root.loadSync(files.map((f) => join(schemaDir, f)), { keepCase: true });
  root.resolveAll();
  return root;
}

let root: protobuf.Root | undefined;
const messageCache = new Map<string, MessageType>();
const enumCache = new Map<protobuf.Enum, EnumInfo>();

function critOptions(options: Record<string, unknown> | undefined): CritOptions {
  const o = options ?? {};
  const str = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : undefined);
  return {
    hex: o["(criu).hex"] === true,
    ipadd: o["(criu).ipadd"] === true,
    dev: o["(criu).dev"] === true,
    odev: o["(criu).odev"] === true,
    flags: str("(criu).flags"),
    dict: str("(criu).dict"),
    conv: str("(criu).conv"),
  };
}

function enumInfo(e: protobuf.Enum): EnumInfo {
  let info = enumCache.get(e);
  if (!info) {
    const byName = new Map(Object.entries(e.values));
    // Aliases: protobuf reports the first name declared for a number.
    const byValue = new Map<number, string>();
    for (const [name, value] of byName) if (!byValue.has(value)) byValue.set(value, name);
    info = { name: e.name, byValue, byName };
    enumCache.set(e, info);
  }
  return info;
}

/** The message type with this (package-less) name, e.g. "core_entry". */
export function messageType(name: string): MessageType {
  const cached = messageCache.get(name);
  if (cached) return cached;
  root ??= loadRoot();
  return buildMessage(root.lookupType(name));
}

function buildMessage(t: protobuf.Type): MessageType {
  const key = t.fullName.replace(/^\./, "");
  const cached = messageCache.get(key);
  if (cached) return cached;
  const fields: FieldInfo[] = [];
  const type: MessageType = {
    name: key,
    fields,
    byNumber: new Map(),
    byName: new Map(),
  };
  // Registered before the fields are built so that recursive types (cgroup_dir_entry) terminate.
  messageCache.set(key, type);
  for (const f of [...t.fieldsArray].sort((a, b) => a.id - b.id)) {
    const resolved = f.resolvedType;
    let field: FieldInfo;
    const common = {
      name: f.name,
      number: f.id,
      repeated: f.repeated,
      required: f.rule === "required",
      crit: critOptions(f.options),
    };
    if (resolved instanceof protobuf.Enum) {
      field = { ...common, kind: "enum", wireType: 0, is64: false, enumType: enumInfo(resolved) };
    } else if (resolved instanceof protobuf.Type) {
      const sub = buildMessage(resolved);
      field = { ...common, kind: "message", wireType: 2, is64: false, messageType: sub };
    } else {
      const kind = f.type as ScalarKind;
      if (!(kind in WIRE_TYPES)) throw new Error(`schema: ${key}.${f.name} has unsupported type ${f.type}`);
      field = { ...common, kind, wireType: WIRE_TYPES[kind], is64: SIXTY_FOUR.has(kind) };
    }
    fields.push(field);
    (type.byNumber as Map<number, FieldInfo>).set(field.number, field);
    (type.byName as Map<string, FieldInfo>).set(field.name, field);
  }
  return type;
}

/** Every message type of the schema, for tests and tools that walk them all. */
export function allMessageTypeNames(): string[] {
  root ??= loadRoot();
  const names: string[] = [];
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) names.push(nested.fullName.replace(/^\./, ""));
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) walk(nested);
    }
  };
  walk(root);
  return names;
}
