/**
 * The certificate one Gateway TLS server presents, and the handshake server built from it: from
 * `credentialName` (the CredentialStore of `--credentials-dir`) or from Istio's file-mount form
 * (`serverCertificate` / `privateKey` / `caCertificates`). Checked on every handshake — a stat
 * per file, the files are read again only when they changed — so a rotated certificate is used
 * by the next handshake; open connections keep theirs. A credential that breaks after it worked
 * keeps serving the last good one (as Envoy keeps its last accepted SDS secret) and says so.
 */
import { statSync } from "node:fs";
import tls from "node:tls";
import type { HostIndex, ServerTls, TlsProtocolVersion } from "@lanecar/core";
import {
  type Credential,
  CredentialError,
  type CredentialStore,
  loadCredentialFiles,
} from "../identity/credentials.js";

export interface CredentialStatus {
  source: string;
  fingerprint256: string | null;
  validTo: string | null;
  /** Why the credential cannot be used (no key material, ever); null when it can. */
  error: string | null;
  /** The credential broke after it had worked: the last good one is still presented. */
  servingLastGood: boolean;
}

const VERSION: Record<TlsProtocolVersion, tls.SecureVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSV1_0: "TLSv1",
  TLSV1_1: "TLSv1.1",
  TLSV1_2: "TLSv1.2",
  TLSV1_3: "TLSv1.3",
};

/** TLS 1.2 cipher suites OpenSSL knows, by the names Istio/Envoy use (OpenSSL's). */
const KNOWN_CIPHERS = new Set(tls.getCiphers().map((c) => c.toUpperCase()));

/** The cipher suites of `list` this OpenSSL does not know (warned, left out). */
export function unknownCiphers(list: readonly string[]): string[] {
  return list.filter((c) => !KNOWN_CIPHERS.has(c.toUpperCase()));
}

export class ServerCredential {
  private cred: Credential | undefined;
  /** Does this server's handshakes (and, for MUTUAL, the client check); re-keyed on rotation. */
  private srv: tls.Server | undefined;
  private error: string | null = null;
  private fileStamp = "";
  /** Called with each new error (once per distinct message), for the log. */
  onError: ((message: string) => void) | undefined;

  constructor(
    readonly label: string,
    readonly settings: ServerTls,
    private readonly store: CredentialStore | undefined,
    /** Wires a new handshake server's events (secureConnection, tlsClientError). */
    private readonly init: (srv: tls.Server, cred: ServerCredential) => void,
    /** The server's hosts: what requests on its connections may name. */
    readonly hosts: HostIndex<true>,
  ) {}

  /** Where the certificate comes from, for status pages (paths and names, never contents). */
  get source(): string {
    const s = this.settings;
    return s.credentialName
      ? `credentialName ${s.credentialName}`
      : `files ${[s.serverCertificate, s.privateKey, s.caCertificates].filter(Boolean).join(", ")}`;
  }

  /**
   * The TLS server that does a new connection's handshake, with the current certificate;
   * undefined when there never was a usable one. A node:tls Server (never listening: sockets are
   * handed to it) rather than a bare TLSSocket, because only the Server path checks a client
   * certificate against the CA and refuses it (a bare server TLSSocket accepts any certificate).
   */
  server(handshakeTimeoutMs = 10_000): tls.Server | undefined {
    let cred: Credential;
    try {
      cred = this.load();
      if (!cred.certPem || !cred.keyPem)
        throw new CredentialError("the credential has no certificate and key");
      if (this.settings.mode === "MUTUAL" && !cred.caPem)
        throw new CredentialError("MUTUAL needs a CA to verify clients (ca.crt, or a <name>-cacert folder)");
    } catch (err) {
      this.fail(`${this.label}: ${err instanceof CredentialError ? err.message : String(err)}`);
      return this.srv;
    }
    if (cred !== this.cred) {
      try {
        const options = optionsOf(cred, this.settings);
        if (this.srv) this.srv.setSecureContext(options);
        else {
          const mutual = this.settings.mode === "MUTUAL";
          const srv = tls.createServer({
            ...options,
            requestCert: mutual,
            rejectUnauthorized: mutual,
            ALPNProtocols: ["http/1.1"],
            handshakeTimeout: handshakeTimeoutMs,
          });
          this.init(srv, this);
          this.srv = srv;
        }
      } catch (err) {
        this.fail(`${this.label}: ${(err as Error).message.split("\n")[0]}`);
        return this.srv;
      }
      this.cred = cred;
    }
    this.error = null;
    return this.srv;
  }

  status(): CredentialStatus {
    this.server();
    return {
      source: this.source,
      fingerprint256: this.cred?.fingerprint256 ?? null,
      validTo: this.cred?.validTo ?? null,
      error: this.error,
      servingLastGood: this.error !== null && this.srv !== undefined,
    };
  }

  private fail(message: string): void {
    if (message !== this.error) this.onError?.(message);
    this.error = message;
  }

  private load(): Credential {
    const s = this.settings;
    if (s.credentialName) {
      if (!this.store)
        throw new CredentialError(`credentialName "${s.credentialName}" needs --credentials-dir`);
      return this.store.get(s.credentialName);
    }
    const files = [s.serverCertificate, s.privateKey, s.caCertificates];
    const stamp = files.map((f) => (f ? `${f}:${mtime(f)}` : "-")).join("|");
    if (this.cred && stamp === this.fileStamp) return this.cred;
    const cred = loadCredentialFiles("serverCertificate/privateKey", files);
    this.fileStamp = stamp;
    return cred;
  }
}

function mtime(p: string): number | string {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return "missing";
  }
}

function optionsOf(c: Credential, s: ServerTls): tls.SecureContextOptions {
  const ciphers = s.cipherSuites.filter((x) => KNOWN_CIPHERS.has(x.toUpperCase()));
  return {
    cert: c.certPem,
    key: c.keyPem,
    ...(s.mode === "MUTUAL" ? { ca: c.caPem } : {}),
    minVersion: VERSION[s.minProtocolVersion ?? "TLS_AUTO"] ?? "TLSv1.2",
    maxVersion: VERSION[s.maxProtocolVersion ?? "TLS_AUTO"] ?? "TLSv1.3",
    ...(ciphers.length > 0 ? { ciphers: ciphers.join(":") } : {}),
  };
}
