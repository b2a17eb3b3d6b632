/**
 * The certificates a SIMPLE / MUTUAL origination uses, as one secure context: from the
 * DestinationRule's files (`caCertificates`, `clientCertificate`, `privateKey`) or from the
 * credential `credentialName` names (`--credentials-dir`; SIMPLE reads its CA, MUTUAL its
 * certificate, key and CA). Read when a connection opens, rebuilt only when a file changed, so a
 * renewed certificate applies to new connections. Without a CA, the server is verified against
 * Node's default roots (its Mozilla bundle plus NODE_EXTRA_CA_CERTS), as Istio verifies against
 * the OS roots. Problems are one line (CredentialError) naming the file, never the key.
 */
import { readFileSync, statSync } from "node:fs";
import tls, { type SecureContext } from "node:tls";
import type { ClientTlsSettings } from "@lanecar/core";
import { type Credential, CredentialError, type CredentialStore } from "../identity/credentials.js";

interface Pems {
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch (err) {
    throw new CredentialError(`${path}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
}

export class OriginationMaterial {
  private ctx: SecureContext | undefined;
  /** What the current context was built from: a credential object or the files' mtimes. */
  private stamp: unknown;
  private readonly files: string[];

  constructor(
    private readonly s: ClientTlsSettings,
    private readonly credentials: CredentialStore | undefined,
    private readonly onChange: () => void,
  ) {
    this.files = [s.caCertificates, s.clientCertificate, s.privateKey].filter((f): f is string => !!f);
  }

  /** The context for a new connection; throws CredentialError when the material is unusable. */
  context(): SecureContext {
    const s = this.s;
    let stamp: unknown;
    let pems: (() => Pems) | undefined;
    if (s.credentialName) {
      if (!this.credentials)
        throw new CredentialError(`credentialName "${s.credentialName}" needs --credentials-dir`);
      const cred = this.credentials.get(s.credentialName);
      stamp = cred;
      pems = () => fromCredential(cred, s.mode);
    } else {
      stamp = this.files.map(mtime).join("|");
      pems = () => ({
        ca: s.caCertificates ? readText(s.caCertificates) : undefined,
        cert: s.clientCertificate ? readText(s.clientCertificate) : undefined,
        key: s.privateKey ? readText(s.privateKey) : undefined,
      });
    }
    if (this.ctx && stamp === this.stamp) return this.ctx;
    const p = pems();
    try {
      this.ctx = tls.createSecureContext({
        ca: p.ca,
        cert: s.mode === "MUTUAL" ? p.cert : undefined,
        key: s.mode === "MUTUAL" ? p.key : undefined,
        minVersion: "TLSv1.2",
      });
    } catch (err) {
      const what = s.credentialName ? `credential "${s.credentialName}"` : this.files.join(", ");
      throw new CredentialError(`${what}: not usable for ${s.mode} TLS (${(err as Error).message})`);
    }
    if (this.stamp !== undefined) this.onChange();
    this.stamp = stamp;
    return this.ctx;
  }
}

function fromCredential(c: Credential, mode: string): Pems {
  if (mode === "MUTUAL" && (!c.certPem || !c.keyPem))
    throw new CredentialError(`credential "${c.name}" has no certificate and key for MUTUAL TLS`);
  return { ca: c.caPem, cert: c.certPem, key: c.keyPem };
}

function readText(path: string): string {
  try {
    // Sync by design: a connection is opening now and needs the context; files are small.
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new CredentialError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}
