/**
 * The schema as flat tables: what the codec needs from the .proto files, nothing more. A build writes
 * them as JSON so that the codec starts without a protobuf library; from source they are derived
 * from the .proto files parsed by protobufjs.
 */

/** [name, number, kind, label, type reference, crit options] */
export type FieldRow = [string, number, string, FieldLabel, string, CritOptionRow];
/** 0 optional, 1 required, 2 repeated */
export type FieldLabel = 0 | 1 | 2;
export interface CritOptionRow {
  hex?: true;
  ipadd?: true;
  dev?: true;
  odev?: true;
  flags?: string;
  dict?: string;
  conv?: string;
}

export interface SchemaTables {
  messages: Record<string, FieldRow[]>;
  enums: Record<string, Array<[string, number]>>;
}

/** The parts of protobufjs's reflection objects this conversion reads. */
interface ReflectedField {
  name: string;
  id: number;
  type: string;
  rule?: string;
  repeated: boolean;
  options?: Record<string, unknown>;
  resolvedType: { fullName: string; values?: Record<string, number>; fieldsArray?: unknown } | null;
}
interface ReflectedNamespace {
  fullName: string;
  nestedArray: ReflectedNamespace[];
  fieldsArray?: ReflectedField[];
  values?: Record<string, number>;
}

const name = (fullName: string) => fullName.replace(/^\./, "");

function optionRow(options: Record<string, unknown> | undefined): CritOptionRow {
  const row: CritOptionRow = {};
  if (!options) return row;
  for (const key of ["hex", "ipadd", "dev", "odev"] as const) if (options[`(criu).${key}`] === true) row[key] = true;
  for (const key of ["flags", "dict", "conv"] as const) {
    const v = options[`(criu).${key}`];
    if (typeof v === "string") row[key] = v;
  }
  return row;
}

/** Tables from a resolved protobufjs Root. */
export function tablesFromRoot(root: ReflectedNamespace): SchemaTables {
  const tables: SchemaTables = { messages: {}, enums: {} };
  const walk = (ns: ReflectedNamespace) => {
    for (const nested of ns.nestedArray ?? []) {
      if (nested.fieldsArray) {
        tables.messages[name(nested.fullName)] = nested.fieldsArray.map((f): FieldRow => {
          const ref = f.resolvedType;
          const kind = ref ? (ref.values ? "enum" : "message") : f.type;
          const label: FieldLabel = f.repeated ? 2 : f.rule === "required" ? 1 : 0;
          return [f.name, f.id, kind, label, ref ? name(ref.fullName) : "", optionRow(f.options)];
        });
      } else if (nested.values) {
        tables.enums[name(nested.fullName)] = Object.entries(nested.values);
      }
      if (nested.nestedArray) walk(nested);
    }
  };
  walk(root);
  return tables;
}
