/**
 * TLS credentials named by `credentialName` (Gateway servers' `tls`, DestinationRule `SIMPLE` /
 * `MUTUAL`), read from `--credentials-dir DIR`: one folder per name holding the keys of the
 * Kubernetes Secret Istio would read, as files (what a Secret volume mount gives):
 * `tls.crt` / `tls.key` / `ca.crt` (type kubernetes.io/tls) or `cert` / `key` / `cacert` (Istio's
 * generic Secret). As in Istio, the CA may also come from a separate folder `<name>-cacert`.
 * Files are re-read when they change (a Secret volume update): `get` is cheap when nothing did.
 * Keys are held only as PEM for building secure contexts; they never appear in messages.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export interface Credential {
  readonly name: string;
  /** The certificate chain to present (server, or client for MUTUAL); absent for a CA-only credential. */
  readonly certPem: string | undefined;
  readonly keyPem: string | undefined;
  /** Trust anchors to verify the peer with (client certificates for a MUTUAL gateway, the server for origination). */
  readonly caPem: string | undefined;
  /** The certificate's notAfter, for status pages. */
  readonly validTo: string | undefined;
  /** SHA-256 fingerprint of the certificate (never the key). */
  readonly fingerprint256: string | undefined;
}

/** A credential that cannot be used: one line naming the credential and the file. */
export class CredentialError extends Error {
  readonly code = "LANECAR_CREDENTIAL";
}

const CERT_FILES = ["tls.crt", "cert"] as const;
const KEY_FILES = ["tls.key", "key"] as const;
const CA_FILES = ["ca.crt", "cacert"] as const;

/** `credentialName` is a Kubernetes Secret name (DNS-1123 subdomain): never a path. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

interface Cached {
  stamp: string;
  value: Credential;
}

export class CredentialStore {
  private readonly cache = new Map<string, Cached>();

  constructor(readonly dir: string) {}

  /** The credential `name`, read again only when its files changed. Throws CredentialError. */
  get(name: string): Credential {
    if (!SECRET_NAME.test(name))
      throw new CredentialError(`credentialName "${name}" is not a valid Secret name`);
    const files = this.locate(name);
    const stamp = files.map((f) => (f ? `${f}:${mtimeOf(f)}` : "-")).join("|");
    const hit = this.cache.get(name);
    if (hit && hit.stamp === stamp) return hit.value;
    const value = loadCredentialFiles(name, files);
    this.cache.set(name, { stamp, value });
    return value;
  }

  /** [cert, key, ca] paths that exist (undefined when none of the spellings does). */
  private locate(name: string): [string | undefined, string | undefined, string | undefined] {
    const own = join(this.dir, name);
    const cert = firstExisting(own, CERT_FILES);
    const key = firstExisting(own, KEY_FILES);
    const ca = firstExisting(own, CA_FILES) ?? firstExisting(join(this.dir, `${name}-cacert`), CA_FILES);
    if (!cert && !key && !ca)
      throw new CredentialError(
        `credential "${name}": no tls.crt/tls.key/ca.crt (or cert/key/cacert) in ${own}`,
      );
    return [cert, key, ca];
  }
}

function firstExisting(dir: string, names: readonly string[]): string | undefined {
  for (const n of names) {
    const p = join(dir, n);
    if (mtimeOf(p) !== undefined) return p;
  }
  return undefined;
}

function mtimeOf(p: string): number | undefined {
  try {
    const st = statSync(p);
    return st.isFile() ? st.mtimeMs : undefined;
  } catch {
    return undefined;
  }
}

function read(name: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new CredentialError(
      `credential "${name}": cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
}

/**
 * Reads and checks one credential from its files (the certificate and key must match). Also used
 * for Istio's file-mount form (a Gateway's `serverCertificate` / `privateKey` / `caCertificates`).
 */
export function loadCredentialFiles(
  name: string,
  [certPath, keyPath, caPath]: (string | undefined)[],
): Credential {
  if (!certPath !== !keyPath)
    throw new CredentialError(
      `credential "${name}": ${certPath ? "a certificate without a key" : "a key without a certificate"}`,
    );
  const certPem = certPath ? read(name, certPath) : undefined;
  const keyPem = keyPath ? read(name, keyPath) : undefined;
  const caPem = caPath ? read(name, caPath) : undefined;
  let validTo: string | undefined;
  let fingerprint256: string | undefined;
  if (certPem && keyPem && certPath && keyPath) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch {
      throw new CredentialError(`credential "${name}": ${certPath} is not a PEM certificate`);
    }
    let key: ReturnType<typeof createPrivateKey>;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      throw new CredentialError(`credential "${name}": ${keyPath} is not a PEM private key`);
    }
    if (!cert.checkPrivateKey(key))
      throw new CredentialError(
        `credential "${name}": ${keyPath} does not belong to the certificate in ${certPath}`,
      );
    validTo = cert.validTo;
    fingerprint256 = cert.fingerprint256;
  }
  if (caPem && caPath) {
    try {
      new X509Certificate(caPem);
    } catch {
      throw new CredentialError(`credential "${name}": ${caPath} is not a PEM certificate`);
    }
  }
  return Object.freeze({ name, certPem, keyPem, caPem, validTo, fingerprint256 });
}
