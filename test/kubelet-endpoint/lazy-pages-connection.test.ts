/**
 * A lazy migration's node-to-node requests over real HTTPS (certificates by the openssl CLI): the
 * target's client (PeerClient, with its node certificate and the source's pinned fingerprint)
 * upgrades a request to a raw connection that carries bytes both ways, downloads the archive, and
 * refuses a server whose certificate is not the pinned one before it sends anything.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEndpoint, type RunningEndpoint } from "../../src/kubelet-endpoint/endpoint.js";
import { LAZY_TOKEN_HEADER, PAGES_PROTOCOL } from "../../src/kubelet-endpoint/lazy-migration-api.js";
import { BackendError } from "../../src/kubelet-endpoint/node-backend.js";
import { PeerClient } from "../../src/node-client/peer-client.js";
import { haveOpenssl, makeTestCertificates, type TestCertificates } from "../support/tls-certs.js";
import { FakeBackend } from "./fake-backend.js";
import { POLICY, TOKENS } from "./in-process.js";
import { captureLog, type CapturedLog } from "./log-capture.js";

const ID = "0123456789abcdef0123456789abcdef";
const TOKEN = "k".repeat(43);

describe.skipIf(!haveOpenssl())("node to node: the upgraded page connection and the archive", () => {
  const work = mkdtempSync(join(tmpdir(), "ckpt-lazy-https-"));
  let certs: TestCertificates;
  let endpoint: RunningEndpoint;
  let log: CapturedLog;
  let fingerprint: string;
  const calls: string[] = [];

  beforeAll(async () => {
    certs = makeTestCertificates(join(work, "pki"));
    writeFileSync(join(work, "tokens.csv"), TOKENS);
    writeFileSync(join(work, "policy.yaml"), `${POLICY}  - groups: [ckpt-nodes]\n    verbs: [get]\n    resources: [nodes/checkpoint]\n`);
    const backend = new FakeBackend();
    const known = (id: string, token: string) => {
      if (id !== ID || token !== TOKEN) throw new BackendError("not-found", "no such migration");
    };
    backend.lazy = {
      startDump: async () => ({ id: ID, token: TOKEN }),
      dumpStatus: () => ({ id: ID, target: "default/web/app", state: "serving", pageBytes: 0, durations: {} }),
      dumpArchive: async (id, token) => (known(id, token), calls.push("archive"), { stream: Readable.from([Buffer.from("the archive")]), bytes: 11 }),
      // An echo stands for CRIU's page server: what the target sends comes back.
      dumpPages: (id, token) => (known(id, token), calls.push("pages"), (c) => void c.pipe(c)),
      cancelDump: async () => ({ id: ID, target: "default/web/app", state: "failed", pageBytes: 0, durations: {} }),
      preCopyRefusal: async () => "no",
      restorePod: async () => ({}),
      restoreStatus: (namespace, pod) => ({ namespace, pod, containers: [] }),
    };
    log = captureLog();
    endpoint = await startEndpoint(backend, {
      address: "127.0.0.1",
      port: 0,
      tlsCertFile: certs.serving.certFile,
      tlsKeyFile: certs.serving.keyFile,
      clientCAFile: certs.ca.certFile,
      tokenFile: join(work, "tokens.csv"),
      authorizationPolicyFile: join(work, "policy.yaml"),
      logger: log.logger,
    });
    fingerprint = new X509Certificate(certs.serving.cert).fingerprint256;
  });
  afterAll(async () => {
    await endpoint?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const peer = (o: { fingerprint?: string; groups?: string[] } = {}) => {
    const node = certs.client("node-b", o.groups ?? ["ckpt-nodes"]);
    return new PeerClient({ server: endpoint.url, fingerprint256: o.fingerprint ?? fingerprint, cert: node.cert, key: node.key });
  };

  it("upgrades to ckpt-lazy-pages and carries bytes both ways", async () => {
    const connection = await peer().upgrade(`/migrations/${ID}/pages`, { [LAZY_TOKEN_HEADER]: TOKEN }, PAGES_PROTOCOL);
    const back = new Promise<string>((resolve) => {
      let got = "";
      connection.on("data", (c: Buffer) => {
        got += c.toString();
        if (got.length >= 5) resolve(got);
      });
    });
    connection.write("pages");
    expect(await back).toBe("pages");
    connection.destroy();
    expect(log.requests().at(-1)).toMatchObject({ user: "node-b", method: "GET", path: `/migrations/${ID}/pages`, status: 101 });
  });

  it("downloads the archive into a new file", async () => {
    const file = join(work, "archive.tar");
    expect(await peer().download(`/migrations/${ID}/archive`, { [LAZY_TOKEN_HEADER]: TOKEN }, file)).toBe(11);
    expect(readFileSync(file, "utf8")).toBe("the archive");
  });

  it("a wrong token, or a node the policy does not let in, is refused with the node's answer", async () => {
    await expect(peer().upgrade(`/migrations/${ID}/pages`, { [LAZY_TOKEN_HEADER]: "x".repeat(43) }, PAGES_PROTOCOL)).rejects.toThrow(/: 404 no such migration$/);
    await expect(peer({ groups: ["viewers"] }).download(`/migrations/${ID}/archive`, { [LAZY_TOKEN_HEADER]: TOKEN }, join(work, "no.tar"))).rejects.toThrow(
      /: 403 Forbidden \(user=node-b, verb=get, resource=nodes, subresource\(s\)=\[checkpoint\]\)$/,
    );
  });

  it("a server whose certificate is not the pinned one gets no request at all", async () => {
    const before = log.requests().length;
    const other = new X509Certificate(certs.ca.cert).fingerprint256;
    await expect(peer({ fingerprint: other }).upgrade(`/migrations/${ID}/pages`, { [LAZY_TOKEN_HEADER]: TOKEN }, PAGES_PROTOCOL)).rejects.toThrow(
      `its certificate (${fingerprint}) is not the one the migration names (${other})`,
    );
    expect(log.requests().length).toBe(before);
  });
});
