/**
 * Decoded messages ↔ crit's JSON objects (pycriu's pb2dict/dict2pb): keys in field-number order, only
 * present fields, enums by name, bytes as MIME base64, and with `pretty` the `(criu)` field options:
 * hex (inherited by nested messages), dev, flags, dict and ipadd.
 */
import type { FieldInfo, MessageType } from "../schema-registry.js";
import { describeNode, type JsonNode, type JsonObject, type JsonValue } from "../json-text.js";
import { InvalidUtf8, type WireMessage, type WireScalar } from "../wire-reader.js";
import { decodeBase64Lenient, decodeQuotedPrintable, mimeBase64, pythonBytesRepr, quotedPrintable } from "./byte-text.js";
import { DICT_MAPS, FLAG_MAPS, formatFlags } from "./flag-maps.js";
import { formatIpWords, parseIpWords } from "./ip-address.js";
import { formatDev, hexString, parseDev, parsePythonInt } from "./numbers.js";

export function messageToJson(type: MessageType, msg: WireMessage, pretty: boolean, hexInherited = false): JsonObject {
  const out: JsonObject = {};
  for (const field of type.fields) {
    const value = msg[field.name];
    if (value === undefined) continue;
    const hex = hexInherited || field.crit.hex;
    if (field.repeated) {
      const list = value as WireScalar[] | WireMessage[];
      if (list.length === 0) continue;
      const ip = pretty && field.crit.ipadd ? formatIpWords(list as number[]) : undefined;
      out[field.name] = ip !== undefined ? [ip] : list.map((v) => valueToJson(field, v, pretty, hex));
    } else {
      out[field.name] = valueToJson(field, value as WireScalar | WireMessage, pretty, hex);
    }
  }
  return out;
}

function valueToJson(field: FieldInfo, value: WireScalar | WireMessage, pretty: boolean, hex: boolean): JsonValue {
  switch (field.kind) {
    case "message":
      return messageToJson(field.messageType!, value as WireMessage, pretty, hex);
    case "bytes":
      return field.crit.conv === "unix_name" ? quotedPrintable(value as Uint8Array) : mimeBase64(value as Uint8Array);
    case "string":
      return value instanceof InvalidUtf8 ? pythonBytesRepr(value.bytes) : (value as string);
    case "enum":
      return field.enumType!.byValue.get(value as number)!;
    case "bool":
      return value as boolean;
    case "float":
    case "double":
      return value as number;
    default:
      return pretty ? prettyInteger(field, value as number | bigint, hex) : (value as number | bigint);
  }
}

function prettyInteger(field: FieldInfo, value: number | bigint, hex: boolean): JsonValue {
  if (hex) return hexString(value);
  const { dev, odev, flags, dict } = field.crit;
  if (dev) return formatDev(value, odev);
  if (flags !== undefined) {
    const map = FLAG_MAPS[flags];
    return map ? formatFlags(value, map) : hexString(value);
  }
  if (dict !== undefined) {
    const name = DICT_MAPS[dict]?.[field.name]?.get(Number(value));
    if (name !== undefined) return name;
  }
  return value;
}

/** A JSON value that does not fit the message schema; `offset` is into the JSON text. */
export class JsonShapeError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const INT_RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/**
 * Builds a message from crit JSON. Accepts both plain and pretty forms, as crit's encode does. Keys
 * listed in `ignore` (the payload's "extra") are left to the caller.
 */
export function jsonToMessage(type: MessageType, node: JsonNode, path: string, ignore: ReadonlySet<string> = NO_KEYS): WireMessage {
  if (node.kind !== "object") throw new JsonShapeError(node.offset, `${path}: expected an object (${type.name}), got ${describeNode(node)}`);
  const msg: WireMessage = {};
  for (const [key, child] of node.entries) {
    const field = type.byName.get(key);
    if (!field) {
      if (ignore.has(key)) continue;
      throw new JsonShapeError(child.offset, `${path}: ${type.name} has no field "${key}"`);
    }
    const at = `${path}.${key}`;
    if (field.repeated) {
      if (child.kind !== "array") throw new JsonShapeError(child.offset, `${at}: expected an array, got ${describeNode(child)}`);
      const first = child.items[0];
      if (field.crit.ipadd && first?.kind === "string") {
        // crit reads the address from the first element only.
        const words = parseIpWords(first.value);
        if (!words) throw new JsonShapeError(first.offset, `${at}: "${first.value}" is not an IP address`);
        msg[key] = words;
        continue;
      }
      msg[key] = child.items.map((item, i) => valueFromJson(field, item, `${at}[${i}]`)) as WireScalar[] | WireMessage[];
    } else {
      msg[key] = valueFromJson(field, child, at);
    }
  }
  for (const field of type.fields) {
    if (field.required && msg[field.name] === undefined) {
      throw new JsonShapeError(node.offset, `${path}: ${type.name} is missing required field "${field.name}"`);
    }
  }
  return msg;
}

const NO_KEYS: ReadonlySet<string> = new Set();

function valueFromJson(field: FieldInfo, node: JsonNode, at: string): WireScalar | WireMessage {
  const fail = (what: string): never => {
    throw new JsonShapeError(node.offset, `${at}: ${what}`);
  };
  switch (field.kind) {
    case "message":
      return jsonToMessage(field.messageType!, node, at);
    case "bytes": {
      if (node.kind !== "string") return fail(`expected a string of bytes, got ${describeNode(node)}`);
      if (field.crit.conv === "unix_name") return decodeQuotedPrintable(node.value);
      return decodeBase64Lenient(node.value) ?? fail("invalid base64");
    }
    case "string":
      if (node.kind !== "string") return fail(`expected a string, got ${describeNode(node)}`);
      return node.value;
    case "enum": {
      const e = field.enumType!;
      if (node.kind === "string") return e.byName.get(node.value) ?? fail(`"${node.value}" is not a value of enum ${e.name}`);
      if (node.kind === "number" && /^-?\d+$/.test(node.text) && e.byValue.has(Number(node.text))) return Number(node.text);
      return fail(`expected a name of enum ${e.name}, got ${describeNode(node)}`);
    }
    case "bool":
      if (node.kind === "bool") return node.value;
      if (node.kind === "number" && /^-?\d+$/.test(node.text)) return BigInt(node.text) !== 0n;
      return fail(`expected true or false, got ${describeNode(node)}`);
    case "float":
    case "double":
      if (node.kind !== "number") return fail(`expected a number, got ${describeNode(node)}`);
      return Number(node.text);
    default:
      return integerFromJson(field, node, fail);
  }
}

function integerFromJson(field: FieldInfo, node: JsonNode, fail: (what: string) => never): number | bigint {
  let value: bigint | undefined;
  if (node.kind === "number") {
    value = /^-?\d+$/.test(node.text) ? BigInt(node.text) : undefined;
    if (value === undefined) fail(`expected an integer, got ${node.text}`);
  } else if (node.kind === "bool") {
    value = node.value ? 1n : 0n;
  } else if (node.kind === "string") {
    value = integerFromText(field, node.value);
    if (value === undefined) fail(`"${node.value}" is not a valid value for ${field.kind} field ${field.name}`);
  } else {
    fail(`expected an integer, got ${describeNode(node)}`);
  }
  const [min, max] = INT_RANGES[field.kind]!;
  if (value! < min || value! > max) fail(`${value} is out of range for ${field.kind}`);
  return field.is64 ? value! : Number(value);
}

function integerFromText(field: FieldInfo, text: string): bigint | undefined {
  const { dev, odev, flags, dict } = field.crit;
  if (dev) return parseDev(text, odev);
  if (flags !== undefined && FLAG_MAPS[flags]) {
    if (text === "") return 0n;
    let sum = 0n;
    const names = new Map(FLAG_MAPS[flags]);
    for (const token of text.split("|").map((t) => t.trim())) {
      const bit = names.get(token);
      const v = bit !== undefined ? BigInt(bit) : parsePythonInt(token);
      if (v === undefined) return undefined;
      sum += v;
    }
    return sum;
  }
  if (dict !== undefined) {
    for (const [v, name] of DICT_MAPS[dict]?.[field.name] ?? []) if (name === text) return BigInt(v);
  }
  return parsePythonInt(text);
}
