/**
 * The endpoint's serving certificate: the configured files, or else a self-signed pair kept in
 * certDir as the kubelet keeps its own (<certDir>/kubelet.crt, kubelet.key), made on first start
 * and reused afterwards, so clients that pinned it keep working across restarts. A pair that has
 * expired or whose key does not match is replaced.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";

export interface ServingCertificate {
  cert: string;
  key: string;
  /** Where it came from, for the start-up log line. */
  source: "files" | "generated" | "reused";
  certFile: string;
  keyFile: string;
}

export interface ServingCertificateOptions {
  tlsCertFile?: string;
  tlsKeyFile?: string;
  certDir: string;
  nodeName: string;
  /** The listen address; a specific IP is added to the certificate's names. */
  address: string;
}

export class ServingCertificateError extends Error {
  override name = "ServingCertificateError";
}

export async function servingCertificate(options: ServingCertificateOptions): Promise<ServingCertificate> {
  if (options.tlsCertFile !== undefined && options.tlsKeyFile !== undefined) {
    const pair = { cert: readFileSync(options.tlsCertFile, "utf8"), key: readFileSync(options.tlsKeyFile, "utf8") };
    const problem = pairProblem(pair.cert, pair.key);
    if (problem) throw new ServingCertificateError(`${options.tlsCertFile}: ${problem}`);
    return { ...pair, source: "files", certFile: options.tlsCertFile, keyFile: options.tlsKeyFile };
  }
  const certFile = join(options.certDir, "kubelet.crt");
  const keyFile = join(options.certDir, "kubelet.key");
  if (existsSync(certFile) && existsSync(keyFile)) {
    const pair = { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
    if (!pairProblem(pair.cert, pair.key)) return { ...pair, source: "reused", certFile, keyFile };
  }
  const pair = await generateSelfSigned(options);
  mkdirSync(options.certDir, { recursive: true, mode: 0o700 });
  writeAtomically(keyFile, pair.key, 0o600);
  writeAtomically(certFile, pair.cert, 0o644);
  return { ...pair, source: "generated", certFile, keyFile };
}

/** Why the pair cannot serve, or undefined when it can. */
function pairProblem(certPem: string, keyPem: string): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    return `not a PEM certificate (${(err as Error).message})`;
  }
  const now = Date.now();
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
    return `certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo})`;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return "the key does not belong to the certificate";
  } catch (err) {
    return `unreadable private key (${(err as Error).message})`;
  }
  return undefined;
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

async function generateSelfSigned(options: ServingCertificateOptions): Promise<{ cert: string; key: string }> {
  const dnsNames = [...new Set(["localhost", options.nodeName, hostname()])].filter((n) => DNS_NAME.test(n));
  const ips = new Set(["127.0.0.1", "::1"]);
  if (isIP(options.address) && options.address !== "0.0.0.0" && options.address !== "::") ips.add(options.address);
  const pems = await generate(
    // The kubelet names its self-signed certificate <host>@<unix time>.
    [{ name: "commonName", value: `${options.nodeName}@${Math.floor(Date.now() / 1000)}` }],
    {
      keyType: "rsa",
      keySize: 2048,
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: false, critical: true },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
        { name: "extKeyUsage", serverAuth: true },
        {
          name: "subjectAltName",
          altNames: [...dnsNames.map((value) => ({ type: 2 as const, value })), ...[...ips].map((ip) => ({ type: 7 as const, ip }))],
        },
      ],
    },
  );
  return { cert: pems.cert, key: pems.private };
}

/** Temp file and rename: a crash never leaves half a key, and the key is never readable by others. */
function writeAtomically(file: string, content: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, content, { mode, flag: "wx" });
  chmodSync(tmp, mode); // the umask may have narrowed the certificate's mode
  renameSync(tmp, file);
}
