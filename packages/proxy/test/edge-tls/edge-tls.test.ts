/**
 * The gateway's HTTPS gate on Lanecar's own server (H1Server), in process, with real TLS on
 * loopback: the deadlines a client that stalls before or during its ClientHello meets (the
 * slowloris defence of the plaintext listener, carried over), a `*` server taking clients without
 * SNI, and the exact-before-wildcard choice.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { type ConfigSnapshot, loadSnapshot } from "@lanecar/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EdgeTls } from "../../src/edge-tls/edge-tls.js";
import { H1Server, SERVER_LIMITS } from "../../src/h1/server.js";
import { CredentialStore } from "../../src/identity/credentials.js";

const DEADLINE_MS = 400;
let server: H1Server;
let port = 0;
let snap: ConfigSnapshot;
const warnings: string[] = [];

/** A self-signed certificate for `cn` in DIR/<name>/tls.crt, tls.key (the openssl CLI). */
function selfSigned(dir: string, name: string, cn: string): void {
  mkdirSync(join(dir, name));
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", join(dir, name, "tls.key"), "-out", join(dir, name, "tls.crt")],
      ...["-subj", `/CN=${cn}`, "-days", "1"],
    ],
    { stdio: "pipe" },
  );
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-edge-gate-"));
  const creds = join(dir, "creds");
  mkdirSync(creds);
  selfSigned(creds, "exact", "exact.example.com");
  selfSigned(creds, "wild", "wildcard");
  selfSigned(creds, "any", "any");
  writeFileSync(
    join(dir, "gw.yaml"),
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
  - port: {number: 443, name: any, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: any}
  - port: {number: 443, name: wild, protocol: HTTPS}
    hosts: ["ns/*.example.com"]
    tls: {mode: SIMPLE, credentialName: wild}
  - port: {number: 443, name: exact, protocol: HTTPS}
    hosts: [exact.example.com]
    tls: {mode: SIMPLE, credentialName: exact}
  - port: {number: 443, name: ciphers, protocol: HTTPS}
    hosts: [ciphers.example.com]
    tls: {mode: SIMPLE, credentialName: exact, cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256, NOT-A-CIPHER]}
`,
  );
  const r = loadSnapshot([dir]);
  snap = r.snapshot!;
  const edge = new EdgeTls(
    () => snap,
    "default/edge",
    new CredentialStore(creds),
    (m) => warnings.push(m),
    DEADLINE_MS,
  );
  server = new H1Server(
    (s) => {
      s.writeHead(200, undefined, ["content-length", "2"]);
      s.end("ok");
    },
    { ...SERVER_LIMITS, headersTimeoutMs: DEADLINE_MS },
  );
  edge.table(); // as the gateway does at start: warnings come now
  server.gate = edge.accept;
  port = (await server.listen("127.0.0.1", 0)).port;
});

afterAll(async () => {
  await server.drain(100);
});

/** The CN of the certificate the gateway presents for `servername` (undefined: no SNI sent). */
function certFor(
  servername: string | undefined,
  extra: tls.ConnectionOptions = {},
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tls.connect({
      port,
      host: "127.0.0.1",
      rejectUnauthorized: false,
      ...(servername ? { servername } : {}),
      ...extra,
    });
    s.on("secureConnect", () => {
      resolve(s.getPeerCertificate().subject?.CN as string | undefined);
      s.destroy();
    });
    s.on("error", () => resolve(undefined));
  });
}

/** How long until the gateway closes a connection that sent `bytes` and then nothing. */
function closedAfter(bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const start = performance.now();
    const s = net.connect({ port, host: "127.0.0.1" }, () => s.write(bytes));
    s.on("error", () => {});
    s.on("close", () => resolve(performance.now() - start));
  });
}

describe("EdgeTls on H1Server", () => {
  it("chooses exact, then the wildcard, then `*` (also for a client without SNI)", async () => {
    expect(warnings).toEqual([
      "Gateway default/edge server ciphers (port 443, hosts ciphers.example.com): cipher suites not known to OpenSSL, left out: NOT-A-CIPHER",
    ]);
    expect(await certFor("exact.example.com")).toBe("exact.example.com");
    expect(await certFor("deep.sub.example.com")).toBe("wildcard");
    expect(await certFor("other.org")).toBe("any");
    expect(await certFor(undefined)).toBe("any");
  });

  it("offers a server's cipherSuites only (TLS 1.2)", async () => {
    const tls12 = { maxVersion: "TLSv1.2" } as const;
    const offered = { ...tls12, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" };
    const other = { ...tls12, ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384" };
    expect(await certFor("ciphers.example.com", offered)).toBe("exact.example.com");
    expect(await certFor("ciphers.example.com", other)).toBeUndefined();
    expect(await certFor("exact.example.com", other)).toBe("exact.example.com");
  });

  it("closes a client that stalls before or inside its ClientHello at the header deadline", async () => {
    const silent = await closedAfter(Buffer.alloc(0));
    const partial = await closedAfter(Buffer.from([22, 3, 1, 0x02, 0x00, 1, 0, 1]));
    for (const ms of [silent, partial]) {
      expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
      expect(ms).toBeLessThan(DEADLINE_MS + 5000);
    }
  });

  it("a whole request over TLS is answered by the codec", async () => {
    const reply = await new Promise<string>((resolve) => {
      const s = tls.connect({
        port,
        host: "127.0.0.1",
        servername: "exact.example.com",
        rejectUnauthorized: false,
      });
      let out = "";
      s.on("secureConnect", () =>
        s.write("GET / HTTP/1.1\r\nhost: exact.example.com\r\nconnection: close\r\n\r\n"),
      );
      s.on("data", (d) => {
        out += d;
      });
      s.on("close", () => resolve(out));
      s.on("error", () => {});
    });
    expect(reply.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
    expect(reply.endsWith("\r\n\r\nok")).toBe(true);
  });
});
