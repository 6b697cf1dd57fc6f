/**
 * What crit's explorers print for a file: the path of a regular file ("unknown path" when the id is
 * not a REG file), pipe[<inode>], unix[<ino> (<peer>) <name>], and TYPE.<id> for every other kind.
 * 4.x dumps keep all files in files.img; older ones had one image per kind (reg-files.img …).
 */
import { quotedPrintable, pythonBytesRepr } from "../crit-json/byte-text.js";
import type { ImageDir } from "../image-dir.js";
import { messageType } from "../schema-registry.js";
import { InvalidUtf8, type WireMessage } from "../wire-reader.js";

const LEGACY: Record<string, readonly [field: string, image: string]> = {
  REG: ["reg", "reg-files.img"],
  PIPE: ["pipe", "pipes.img"],
  UNIXSK: ["usk", "unixsk.img"],
};

export function text(v: unknown): string {
  return v instanceof InvalidUtf8 ? pythonBytesRepr(v.bytes) : String(v ?? "");
}

export class FileNames {
  private files: Map<number, WireMessage> | undefined;
  private readonly legacy = new Map<string, Map<number, WireMessage>>();
  private readonly cache = new Map<string, string>();
  private fdTypes: ReadonlyMap<number, string> | undefined;

  constructor(private readonly dir: ImageDir) {}

  /** files.img entries by id. */
  fileEntries(): Map<number, WireMessage> {
    if (!this.files) {
      this.files = new Map();
      for (const f of this.dir.entries("files.img")) this.files.set(f.id as number, f);
    }
    return this.files;
  }

  typeName(type: number): string {
    this.fdTypes ??= messageType("fdinfo_entry").byName.get("type")!.enumType!.byValue;
    return this.fdTypes.get(type) ?? String(type);
  }

  /** The kind-specific part of file `id` (its `reg`, `usk`… sub-message), from files.img or a legacy image. */
  find(kind: string, id: number): WireMessage | undefined {
    const legacy = LEGACY[kind];
    const entry = this.fileEntries().get(id);
    if (entry) return legacy ? (entry[legacy[0]] as WireMessage | undefined) : entry;
    if (!legacy) return undefined;
    let byId = this.legacy.get(kind);
    if (!byId) {
      byId = new Map(this.dir.entries(legacy[1]).map((e) => [e.id as number, e]));
      this.legacy.set(kind, byId);
    }
    return byId.get(id);
  }

  describe(kind: string, id: number): string {
    const key = `${kind}/${id}`;
    let s = this.cache.get(key);
    if (s === undefined) {
      s = this.compute(kind, id);
      this.cache.set(key, s);
    }
    return s;
  }

  private compute(kind: string, id: number): string {
    switch (kind) {
      case "REG": {
        const reg = this.find(kind, id);
        return reg && reg.name !== undefined && text(reg.name) !== "" ? text(reg.name) : "unknown path";
      }
      case "PIPE": {
        const pipe = this.find(kind, id);
        return pipe ? `pipe[${pipe.pipe_id}]` : "pipe[?]";
      }
      case "UNIXSK": {
        const usk = this.find(kind, id);
        if (!usk) return "unix[?]";
        const name = usk.name instanceof Uint8Array && usk.name.length > 0 ? " " + quotedPrintable(usk.name) : "";
        return `unix[${usk.ino} (${usk.peer})${name}]`;
      }
      default:
        return `${kind}.${id}`;
    }
  }
}
