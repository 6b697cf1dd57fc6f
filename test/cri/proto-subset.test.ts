/**
 * src/cri/runtime-v1.proto is a subset of the official CRI runtime.v1 API: every service, method,
 * message, enum, field and value it has exists in cri-api's api.proto (installed by scripts/setup.sh)
 * with the same name, number, type and cardinality.
 */
import { existsSync } from "node:fs";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { protoPath } from "../../src/cri/client.js";

const OFFICIAL = process.env.CKPT_CRI_API_PROTO ?? "/opt/ckpt-tools/cri-api.proto";

function load(path: string): protobuf.Namespace {
  return new protobuf.Root().loadSync(path, { keepCase: true }).lookup("runtime.v1") as protobuf.Namespace;
}

function walk(ns: protobuf.NamespaceBase, prefix = ""): [string, protobuf.ReflectionObject][] {
  const out: [string, protobuf.ReflectionObject][] = [];
  for (const obj of ns.nestedArray) {
    const name = prefix + obj.name;
    out.push([name, obj]);
    if (obj instanceof protobuf.Namespace) out.push(...walk(obj, name + "."));
  }
  return out;
}

describe.skipIf(!existsSync(OFFICIAL))("runtime-v1.proto", () => {
  it("matches the official CRI api.proto wherever it has something", () => {
    const ours = load(protoPath());
    const official = load(OFFICIAL);
    const problems: string[] = [];
    for (const [name, obj] of walk(ours)) {
      const theirs = official.lookup(name);
      if (!theirs || theirs.constructor !== obj.constructor) {
        problems.push(`${name}: not in the official API as a ${obj.constructor.name}`);
        continue;
      }
      if (obj instanceof protobuf.Type) {
        const t = theirs as protobuf.Type;
        for (const f of obj.fieldsArray) {
          const g = t.fields[f.name];
          const shape = (x: protobuf.Field) => `${x.id} ${x.repeated ? "repeated " : ""}${x instanceof protobuf.MapField ? `map<${x.keyType},${x.type}>` : x.type}`;
          if (!g) problems.push(`${name}.${f.name}: no such field`);
          else if (shape(f) !== shape(g)) problems.push(`${name}.${f.name}: ${shape(f)}, official ${shape(g)}`);
        }
      } else if (obj instanceof protobuf.Enum) {
        const e = theirs as protobuf.Enum;
        for (const [k, v] of Object.entries(obj.values)) if (e.values[k] !== v) problems.push(`${name}.${k} = ${v}, official ${e.values[k]}`);
      } else if (obj instanceof protobuf.Service) {
        const s = theirs as protobuf.Service;
        for (const m of obj.methodsArray) {
          const o = s.methods[m.name];
          if (!o || o.requestType !== m.requestType || o.responseType !== m.responseType) problems.push(`${name}.${m.name}: not ${m.requestType} → ${m.responseType} in the official API`);
        }
      }
    }
    expect(problems).toEqual([]);
    // What the client calls is all there.
    const runtime = ours.lookup("RuntimeService") as protobuf.Service;
    expect(Object.keys(runtime.methods).sort()).toEqual(
      ["CheckpointContainer", "ContainerStatus", "CreateContainer", "ListContainers", "ListPodSandbox", "PodSandboxStatus", "RemoveContainer", "RemovePodSandbox", "RunPodSandbox", "StartContainer", "StopContainer", "StopPodSandbox", "Version"].sort(),
    );
    expect(Object.keys((ours.lookup("ImageService") as protobuf.Service).methods).sort()).toEqual(["ImageStatus", "ListImages", "PullImage"]);
  });
});
