/**
 * Workload identities and clients for the mutual-TLS e2e tests (issue 15, bad input and faults):
 * a good identity and the five bad ones a peer can present — expired, not yet valid, another trust
 * domain (signed by our root), self-signed, from another CA — each written as the three files of
 * an `--identity-dir`; a raw HTTP/1.1 GET over mTLS that reports what the peer presented; a GET
 * through a sidecar's outbound listener; and the check that a private key appears nowhere.
 */
import { appendFileSync, mkdtempSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { initCa, issueWorkload, selfSignedWorkload } from "../../packages/proxy/src/identity/index.js";

export const HOUR = 3600_000;

export function tmp(prefix = "lanecar-mtls-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function newCa(trustDomain = "cluster.local"): string {
  const dir = join(tmp(), "ca");
  initCa(dir, trustDomain);
  return dir;
}

/** A good workload identity `spiffe://cluster.local/ns/default/sa/<sa>` from `ca`. */
export function goodIdentity(ca: string, sa: string, ttlMs = HOUR): string {
  const dir = join(tmp(), sa);
  issueWorkload(ca, dir, { namespace: "default", serviceAccount: sa, ttlMs });
  return dir;
}

export const BAD_CASES = [
  "expired",
  "not-yet-valid",
  "wrong-trust-domain",
  "self-signed",
  "other-ca",
] as const;
export type BadCase = (typeof BAD_CASES)[number];

/**
 * A workload identity with certificate fault `bad`. Its bundle also trusts `ca`'s root, so as a
 * server it would accept our clients and as a client it trusts our servers: the one thing wrong
 * is the certificate it presents.
 */
export function badIdentity(ca: string, otherCa: string, sa: string, bad: BadCase): string {
  const dir = join(tmp(), `${sa}-${bad}`);
  const now = Date.now();
  const base = { namespace: "default", serviceAccount: sa, ttlMs: HOUR };
  switch (bad) {
    case "expired":
      issueWorkload(ca, dir, { ...base, notBefore: now - 2 * HOUR, notAfter: now - HOUR });
      return dir;
    case "not-yet-valid":
      issueWorkload(ca, dir, { ...base, notBefore: now + HOUR, notAfter: now + 2 * HOUR });
      return dir;
    case "wrong-trust-domain":
      issueWorkload(ca, dir, { ...base, trustDomain: "other.example" });
      return dir;
    case "self-signed":
      selfSignedWorkload(dir, { ...base, trustDomain: "cluster.local" });
      break;
    case "other-ca":
      issueWorkload(otherCa, dir, base);
      break;
  }
  appendFileSync(join(dir, "root-cert.pem"), readFileSync(join(ca, "root-cert.pem")));
  return dir;
}

export function files(dir: string): { cert: string; key: string; ca: string } {
  return {
    cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    key: readFileSync(join(dir, "key.pem"), "utf8"),
    ca: readFileSync(join(dir, "root-cert.pem"), "utf8"),
  };
}

export interface TlsGetResult {
  /** The status line, or "" when no response came. */
  status: string;
  body: string;
  /** SHA-256 fingerprint of the certificate the server presented (when the handshake completed). */
  peer: string | undefined;
  error: string | undefined;
}

/**
 * One `GET path` over a fresh mTLS connection presenting the identity in `dir` (none: no
 * client certificate), trusting `caPem`; never rejects.
 */
export function tlsGet(
  port: number,
  dir: string | undefined,
  caPem: string,
  path = "/",
): Promise<TlsGetResult> {
  return new Promise((resolve) => {
    const id = dir ? files(dir) : undefined;
    const s = tls.connect({
      port,
      host: "127.0.0.1",
      ca: caPem,
      cert: id?.cert,
      key: id?.key,
      checkServerIdentity: () => undefined,
    });
    let out = "";
    let peer: string | undefined;
    let error: string | undefined;
    s.on("secureConnect", () => {
      peer = s.getPeerX509Certificate()?.fingerprint256;
      s.write(`GET ${path} HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n`);
    });
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message;
    });
    s.on("close", () => {
      const at = out.indexOf("\r\n\r\n");
      resolve({
        status: out.split("\r\n")[0] ?? "",
        body: at < 0 ? "" : out.slice(at + 4),
        peer,
        error,
      });
    });
  });
}

/** A plaintext GET on a fresh connection: the status line, "" when the server closed without one. */
export function plainGet(port: number, path = "/"): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    let out = "";
    s.on("connect", () => s.write(`GET ${path} HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n`));
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(out.split("\r\n")[0] ?? ""));
  });
}

/** A GET for `http://host/path` through a sidecar's outbound listener (as an app's HTTP_PROXY). */
export function proxyGet(
  outbound: number,
  host: string,
  path = "/",
  agent: http.Agent | false = false,
): Promise<{ status: number; body: string; flags: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port: outbound, path: `http://${host}${path}`, headers: { host }, agent },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            body,
            flags: String(res.headers["x-lanecar-flags"] ?? ""),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** The private key's PEM, its base64 body in one piece, and each of its lines: none may appear. */
export function keyLeaks(text: string, keyPem: string): string[] {
  const lines = keyPem.split("\n").filter((l) => l && !l.startsWith("-----"));
  const needles = [keyPem.trim(), lines.join(""), ...lines];
  const out = needles.filter((n) => text.includes(n));
  if (text.includes("PRIVATE KEY")) out.push("PRIVATE KEY");
  return out;
}
