/**
 * Certificates for the mutual-TLS scenarios, made fresh in each start's temp folder from one
 * root: Lanecar identities with Lanecar's own CA (`initCa`/`issueWorkload`, what `lanecar ca`
 * writes), and leaves for nginx signed by the same kind of root with OpenSSL. Both sides get the
 * same key type (ECDSA P-256), signature (SHA-256) and chain (root → leaf), so neither handshake
 * is cheaper by construction. nginx's leaves add a DNS SAN beside the SPIFFE URI because
 * `proxy_ssl_verify` checks a host name (it cannot check a URI SAN); Lanecar checks the SPIFFE ID.
 *
 * Also: one HTTP GET over mutual TLS, for what the harness sends to a STRICT inbound listener.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { initCa, issueWorkload } from "@lanecar/proxy";
import type { HttpResult } from "../proc.js";
import { which } from "../proc.js";

const HOUR_MS = 3600_000;

/** A root (`root-cert.pem`, `root-key.pem`) in `dir`/ca; returns that folder. */
export function newRoot(dir: string): string {
  const ca = join(dir, "ca");
  initCa(ca, "cluster.local");
  return ca;
}

/** Lanecar's identity files (`cert.pem`, `key.pem`, `root-cert.pem`) for `sa` in namespace default. */
export function lanecarIdentity(ca: string, dir: string, sa: string): string {
  const out = join(dir, `id-${sa}`);
  issueWorkload(ca, out, { namespace: "default", serviceAccount: sa, ttlMs: HOUR_MS });
  return out;
}

export interface PemFiles {
  cert: string;
  key: string;
  root: string;
}

export function opensslUnavailable(): string | undefined {
  return which("openssl") ? undefined : "openssl is not installed (apt-get install -y openssl)";
}

/**
 * A leaf for nginx, signed by the root in `ca` with OpenSSL: P-256 key, SANs `DNS:<dnsName>` and
 * the SPIFFE URI of `sa`, the same key usages as Lanecar's workload certificates.
 */
export function nginxLeaf(ca: string, dir: string, sa: string, dnsName: string): PemFiles {
  const out = join(dir, `tls-${sa}`);
  mkdirSync(out, { recursive: true });
  const f = (n: string) => join(out, n);
  writeFileSync(
    f("ext.cnf"),
    [
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature, keyEncipherment",
      "extendedKeyUsage = serverAuth, clientAuth",
      `subjectAltName = DNS:${dnsName}, URI:spiffe://cluster.local/ns/default/sa/${sa}`,
      "",
    ].join("\n"),
  );
  const openssl = which("openssl") ?? "openssl";
  const run = (args: string[]) => execFileSync(openssl, args, { stdio: ["ignore", "pipe", "pipe"] });
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f("key.pem")]);
  run(["req", "-new", "-key", f("key.pem"), "-subj", `/O=bench/CN=${dnsName}`, "-out", f("req.csr")]);
  run([
    "x509",
    "-req",
    "-in",
    f("req.csr"),
    "-CA",
    join(ca, "root-cert.pem"),
    "-CAkey",
    join(ca, "root-key.pem"),
    "-CAcreateserial",
    "-CAserial",
    f("serial"),
    "-days",
    "1",
    "-sha256",
    "-extfile",
    f("ext.cnf"),
    "-out",
    f("cert.pem"),
  ]);
  return { cert: f("cert.pem"), key: f("key.pem"), root: join(ca, "root-cert.pem") };
}

/**
 * A keep-alive HTTPS agent presenting the identity in `identityDir` (what the harness seeds a
 * STRICT inbound with: 32 connections reused, not a handshake per request). `destroy()` it at stop.
 */
export function mtlsAgent(identityDir: string): Agent {
  const file = (n: string) => readFileSync(join(identityDir, n));
  return new Agent({
    keepAlive: true,
    maxSockets: 32,
    cert: file("cert.pem"),
    key: file("key.pem"),
    ca: file("root-cert.pem"),
    // The chain is verified; a sidecar's name is its SPIFFE ID, not the loopback address.
    checkServerIdentity: () => undefined,
  });
}

/** One GET over mutual TLS through `agent`, with a timeout. */
export function mtlsGet(
  url: string,
  agent: Agent,
  headers: Record<string, string> = {},
  timeoutMs = 2000,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Connects to `port` over TLS (with a client certificate when `client` is given), says which
 * protocol and cipher were negotiated and what a plain `GET /` answered — the report shows both
 * twins agree on the TLS they speak, and that a client without a certificate is turned away.
 */
export function tlsProbe(port: number, client?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      port,
      host: "127.0.0.1",
      ...client,
      rejectUnauthorized: false, // the peer's chain is checked by the proxies; this only reports
    });
    let out = "";
    let how = "";
    const done = (what: string) => {
      s.destroy();
      resolve(what);
    };
    s.setTimeout(2000, () => done(`${how} timeout`.trim()));
    s.on("secureConnect", () => {
      const c = s.getCipher();
      how = `${s.getProtocol()} ${c.standardName ?? c.name}`;
      s.write("GET /small HTTP/1.1\r\nhost: upstream:8080\r\nconnection: close\r\n\r\n");
    });
    s.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    s.on("error", (e: NodeJS.ErrnoException) => done(`${how} ${e.code ?? e.message}`.trim()));
    s.on("close", () => done(`${how}, ${out.split("\r\n")[0] || "closed without an answer"}`));
  });
}

/** The client-certificate half of an identity folder, for tlsProbe. */
export function clientPem(identityDir: string): { cert: Buffer; key: Buffer } {
  return {
    cert: readFileSync(join(identityDir, "cert.pem")),
    key: readFileSync(join(identityDir, "key.pem")),
  };
}
