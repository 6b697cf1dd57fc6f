/** `ckpt node apply -f`: documents split by kind, errors naming the document and field. */
import { describe, expect, it } from "vitest";
import { splitManifests } from "../../src/cli/manifest-documents.js";

describe("splitManifests", () => {
  it("sends each document on its own, by kind, and tells a restore Pod apart", () => {
    const docs = splitManifests(
      "apiVersion: node.k8s.io/v1alpha1\nkind: PodCheckpoint\nmetadata: {name: a}\nspec: {sourcePod: {name: web}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {restoreFrom: a, containers: []}\n",
      "f.yaml",
    );
    expect(docs.map((d) => [d.kind, d.restore])).toEqual([
      ["PodCheckpoint", false],
      ["Pod", true],
    ]);
    expect(JSON.parse(docs[0]!.text)).toEqual({ apiVersion: "node.k8s.io/v1alpha1", kind: "PodCheckpoint", metadata: { name: "a" }, spec: { sourcePod: { name: "web" } } });
  });

  it("names the document and the field of what it cannot send", () => {
    expect(() => splitManifests("kind: Pod\n---\nkind: Deployment\n", "f.yaml")).toThrow(/^f\.yaml: document 2: kind: kind must be Pod or PodCheckpoint$/);
    expect(() => splitManifests("", "f.yaml")).toThrow("f.yaml: no document");
    expect(() => splitManifests("a: [", "-")).toThrow(/^-: /);
  });
});
