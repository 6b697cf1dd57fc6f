/**
 * Certificates for the endpoint's HTTPS tests, made by the real openssl CLI (not by the code under
 * test's own library): a client CA, a client certificate it signs (CN = user, O = groups), a client
 * certificate from another CA, and a serving certificate for 127.0.0.1/localhost signed by the CA.
 * EC P-256 keys, so a set takes a few tens of milliseconds.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface PemPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestCertificates {
  dir: string;
  ca: PemPair;
  /** Signed by `ca`. */
  serving: PemPair;
  /** Signed by `ca`, subject "/O=…/CN=…" per client. */
  client: (name: string, organizations?: string[]) => PemPair;
  /** A CA nobody trusts, and a client certificate it signed. */
  otherCa: PemPair;
  foreignClient: (name: string, organizations?: string[]) => PemPair;
}

export function haveOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "pipe" });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function pair(dir: string, name: string): PemPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile };
}

function makeCa(dir: string, name: string, cn: string): PemPair {
  openssl(
    ["req", "-x509", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${cn}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    dir,
  );
  return pair(dir, name);
}

let serial = 1000;

/** A leaf certificate signed by `ca`, with the given subject and extensions (openssl config lines). */
function makeLeaf(dir: string, name: string, ca: PemPair, subject: string, extensions: string[]): PemPair {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions.join("\n") + "\n");
  openssl(["req", "-new", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
  openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-set_serial", String(serial++),
      "-days", "2", "-sha256", "-extfile", ext, "-out", `${name}.crt`],
    dir,
  );
  return pair(dir, name);
}

function subject(cn: string, organizations: string[]): string {
  return organizations.map((o) => `/O=${o}`).join("") + `/CN=${cn}`;
}

const CLIENT_EXT = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth"];

export function makeTestCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir, "ca", "ckpt-test-ca");
  const otherCa = makeCa(dir, "other-ca", "ckpt-test-other-ca");
  const serving = makeLeaf(dir, "serving", ca, "/CN=ckpt-test-node", [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  let n = 0;
  return {
    dir,
    ca,
    serving,
    otherCa,
    client: (name, organizations = []) => makeLeaf(dir, `client-${n++}`, ca, subject(name, organizations), CLIENT_EXT),
    foreignClient: (name, organizations = []) =>
      makeLeaf(dir, `foreign-${n++}`, otherCa, subject(name, organizations), CLIENT_EXT),
  };
}
