/**
 * Mutual TLS between sidecars (issue 15, first data-path slice), with real TLS on loopback:
 * a sidecar's inbound with `--identity-dir` in PERMISSIVE (plaintext and mTLS on one port) and
 * STRICT (OpenSSL's s_client refused without a client certificate, shown the SPIFFE ID with one),
 * an ISTIO_MUTUAL upstream pool (the outbound side) through a byte-recording relay that sees
 * only TLS records, a peer from another CA refused, and a rotation under load without a failure.
 */
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import type { Endpoint } from "@lanecar/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResponseHandler } from "../../src/h1/client.js";
import { initCa, issueWorkload, loadWorkloadCert } from "../../src/identity/index.js";
import { type InboundMtlsMode, MeshTls } from "../../src/identity/mesh-tls.js";
import type { ProxyProcess } from "../../src/process/proxy-process.js";
import { startSidecar } from "../../src/process/sidecar.js";
import { UpstreamPools } from "../../src/upstream/pools.js";

const CONFIG = fileURLToPath(new URL("../../../../examples/bookinfo/config/shared", import.meta.url));
const HOUR = 3600_000;
const quiet = { info: () => {}, error: () => {} };

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "lanecar-mtls-"));
}

function newCa(): string {
  const dir = join(tmp(), "ca");
  initCa(dir, "cluster.local");
  return dir;
}

function workload(ca: string, sa: string): string {
  const dir = join(tmp(), sa);
  issueWorkload(ca, dir, { namespace: "default", serviceAccount: sa, ttlMs: HOUR });
  return dir;
}

let ca: string;
let otherCa: string;
let app: http.Server;
let appSeen: string[] = [];

beforeAll(async () => {
  ca = newCa();
  otherCa = newCa();
  app = http.createServer((req, res) => {
    appSeen.push(`${req.method} ${req.url}`);
    res.end("from-app");
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
});
afterAll(async () => {
  app.closeAllConnections();
  await new Promise<void>((r) => app.close(() => r()));
});

async function serverSidecar(identityDir: string, mode: InboundMtlsMode): Promise<ProxyProcess> {
  return startSidecar({
    config: [CONFIG],
    service: "reviews",
    namespace: "default",
    podLabels: { app: "reviews", version: "v1" },
    inbound: "127.0.0.1:0",
    outbound: "127.0.0.1:0",
    app: `http://127.0.0.1:${(app.address() as net.AddressInfo).port}`,
    admin: undefined,
    logger: quiet,
    mtls: { identityDir, trustDomain: "cluster.local", mode, pollMs: 100 },
  });
}

function inboundPort(p: ProxyProcess): number {
  return p.addresses.get("inbound")!.port;
}

/** One HTTP/1.1 GET over a fresh socket (plaintext or mTLS with `id`); the raw response text. */
/** `trustId`: whose root the client trusts (default: the root that issued its own certificate). */
function rawGet(port: number, id?: string, trustId?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = id ? loadWorkloadCert(id) : undefined;
    const s = c
      ? tls.connect({
          port,
          host: "127.0.0.1",
          cert: c.certPem,
          key: c.keyPem,
          ca: trustId ? loadWorkloadCert(trustId).rootPem : c.rootPem,
          checkServerIdentity: () => undefined,
        })
      : net.connect({ port, host: "127.0.0.1" });
    let out = "";
    s.on(c ? "secureConnect" : "connect", () =>
      s.write("GET /hello HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n"),
    );
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", (e) => reject(e));
    s.on("close", () => resolve(out));
  });
}

function openssl(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile("openssl", args, { timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
    child.stdin!.end("GET / HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n");
  });
}

describe("inbound mutual TLS", () => {
  it("DISABLE serves plaintext only (a TLS handshake is not answered as TLS)", async () => {
    const p = await serverSidecar(workload(ca, "reviews"), "DISABLE");
    try {
      appSeen = [];
      expect(await rawGet(inboundPort(p))).toMatch(/^HTTP\/1\.1 200 [\s\S]*from-app$/);
      await expect(rawGet(inboundPort(p), workload(ca, "productpage"))).rejects.toThrow();
      expect(appSeen).toEqual(["GET /hello"]);
    } finally {
      await p.close();
    }
  });

  it("PERMISSIVE serves plaintext and mTLS on the same port", async () => {
    const p = await serverSidecar(workload(ca, "reviews"), "PERMISSIVE");
    try {
      appSeen = [];
      expect(await rawGet(inboundPort(p))).toMatch(/^HTTP\/1\.1 200 [\s\S]*from-app$/);
      expect(await rawGet(inboundPort(p), workload(ca, "productpage"))).toMatch(
        /^HTTP\/1\.1 200 [\s\S]*from-app$/,
      );
      expect(appSeen).toEqual(["GET /hello", "GET /hello"]);
      const dump = p.configDump() as { workloadCertificate: Record<string, unknown> };
      expect(dump.workloadCertificate).toMatchObject({
        spiffeId: "spiffe://cluster.local/ns/default/sa/reviews",
        inboundMode: "PERMISSIVE",
        accepted: { tls: 1, plaintext: 1, refused: 0 },
      });
      expect(JSON.stringify(dump)).not.toContain("PRIVATE KEY");
    } finally {
      await p.close();
    }
  });

  it("STRICT refuses plaintext, and a client without a certificate (openssl s_client)", async () => {
    const server = workload(ca, "reviews");
    const p = await serverSidecar(server, "STRICT");
    try {
      appSeen = [];
      expect(await rawGet(inboundPort(p))).toBe("");
      const bare = await openssl([
        "s_client",
        "-connect",
        `127.0.0.1:${inboundPort(p)}`,
        "-CAfile",
        join(server, "root-cert.pem"),
        "-quiet",
      ]);
      expect(bare.out).not.toContain("from-app");
      expect(bare.out).toMatch(/alert|certificate required|error/i);
      // With the workload certificate: the handshake completes, the server shows its SPIFFE ID.
      const client = workload(ca, "productpage");
      const ok = await openssl([
        "s_client",
        "-connect",
        `127.0.0.1:${inboundPort(p)}`,
        "-cert",
        join(client, "cert.pem"),
        "-key",
        join(client, "key.pem"),
        "-CAfile",
        join(client, "root-cert.pem"),
        "-verify_return_error",
        "-ign_eof",
        "-showcerts",
      ]);
      expect(ok.out).toContain("Verify return code: 0 (ok)");
      expect(ok.out).toContain("from-app");
      const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(ok.out)![0];
      expect(new (await import("node:crypto")).X509Certificate(leaf).subjectAltName).toContain(
        "URI:spiffe://cluster.local/ns/default/sa/reviews",
      );
      // A client certificate from another CA is refused too: by the server — the client trusts
      // the server's root, so only the server's check of the client can end the exchange.
      const foreign = await rawGet(
        inboundPort(p),
        workload(otherCa, "productpage"),
        workload(ca, "trusting"),
      ).catch((e: NodeJS.ErrnoException) => `error ${e.code ?? e.message}`);
      expect(foreign).not.toContain("HTTP/1.1");
      expect(appSeen).toEqual(["GET /"]);
    } finally {
      await p.close();
    }
  });
});

/** Dispatches one GET on a pool; resolves with the status or the error code. */
function poolGet(pools: UpstreamPools, ep: Endpoint): Promise<string> {
  return new Promise((resolve) => {
    const { pool } = pools.get(ep, undefined, true);
    let status = 0;
    const h: ResponseHandler = {
      onConnect: () => {},
      onHeaders: (s) => {
        status = s;
        return true;
      },
      onData: () => true,
      onComplete: () => resolve(String(status)),
      onError: (e) => resolve(`${e.code}: ${e.message}`),
    };
    pool.dispatch(
      {
        method: "GET",
        path: "/via-pool",
        headers: ["host", "reviews"],
        body: null,
        headersTimeoutMs: 10_000,
        bodyTimeoutMs: 10_000,
      },
      h,
    );
  });
}

function endpoint(port: number): Endpoint {
  return {
    key: `127.0.0.1:${port}`,
    address: "127.0.0.1",
    port,
    labels: {},
    weight: 1,
    probe: undefined,
    origin: "test",
  } as unknown as Endpoint;
}

/** A TCP relay that records every byte the client side sends. */
async function relay(to: number): Promise<{ port: number; bytes: Buffer[]; close: () => void }> {
  const bytes: Buffer[] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const u = net.connect({ port: to, host: "127.0.0.1" });
    socks.add(c).add(u);
    c.on("data", (d) => {
      bytes.push(d);
      u.write(d);
    });
    u.pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
    c.on("close", () => u.destroy());
    u.on("close", () => c.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    bytes,
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

/** TLS record types in a byte stream (RFC 8446 §5.1), or throws on a byte that is not a record. */
function recordTypes(stream: Buffer): number[] {
  const types: number[] = [];
  for (let i = 0; i < stream.length; ) {
    const type = stream[i]!;
    if (type < 0x14 || type > 0x17 || stream[i + 1] !== 3) throw new Error(`not a TLS record at ${i}`);
    types.push(type);
    i += 5 + stream.readUInt16BE(i + 3);
  }
  return types;
}

describe("outbound ISTIO_MUTUAL pool", () => {
  it("speaks mTLS to a STRICT inbound; the wire carries only TLS records", async () => {
    const p = await serverSidecar(workload(ca, "reviews"), "STRICT");
    const mesh = new MeshTls({ identityDir: workload(ca, "productpage"), pollMs: 100 });
    const r = await relay(inboundPort(p));
    const pools = new UpstreamPools({
      connections: 1,
      connectTimeoutMs: 5000,
      keepAliveTimeoutMs: 4000,
      mesh,
    });
    try {
      appSeen = [];
      expect(await poolGet(pools, endpoint(r.port))).toBe("200");
      expect(await poolGet(pools, endpoint(r.port))).toBe("200");
      expect(appSeen).toEqual(["GET /via-pool", "GET /via-pool"]);
      const wire = Buffer.concat(r.bytes);
      expect(wire[0]).toBe(0x16);
      const types = recordTypes(wire);
      expect(types.filter((t) => t === 0x17).length).toBeGreaterThanOrEqual(2);
      expect(wire.includes("GET /via-pool")).toBe(false);
      expect(wire.includes("reviews")).toBe(false);
      // The pool kept a session for resumption.
      expect(mesh.sessions.size).toBe(1);
      // A plaintext pool to the same endpoint is another pool, refused by STRICT.
      const plain = pools.get(endpoint(r.port), undefined, false);
      expect(plain).not.toBe(pools.get(endpoint(r.port), undefined, true));
    } finally {
      await pools.close();
      mesh.stop();
      r.close();
      await p.close();
    }
  });

  it("a server from another CA is a TLS failure (LANECAR_TLS_HANDSHAKE, 503 UF on a route)", async () => {
    const p = await serverSidecar(workload(otherCa, "reviews"), "STRICT");
    const mesh = new MeshTls({ identityDir: workload(ca, "productpage"), pollMs: 100 });
    const pools = new UpstreamPools({
      connections: 1,
      connectTimeoutMs: 5000,
      keepAliveTimeoutMs: 4000,
      mesh,
    });
    try {
      appSeen = [];
      const r = await poolGet(pools, endpoint(inboundPort(p)));
      expect(r).toMatch(/^LANECAR_TLS_HANDSHAKE: TLS_error: /);
      expect(appSeen).toEqual([]);
    } finally {
      await pools.close();
      mesh.stop();
      await p.close();
    }
  });

  it("a peer in another trust domain is rejected by the SPIFFE check", () => {
    const mesh = new MeshTls({ identityDir: workload(ca, "productpage"), pollMs: 100 });
    try {
      const bad = mesh.checkPeer("x", {
        subjectaltname: "URI:spiffe://other.example/ns/default/sa/reviews",
      } as tls.PeerCertificate);
      expect(bad?.message).toContain('not in trust domain "cluster.local"');
      expect(mesh.checkPeer("x", { subjectaltname: "DNS:reviews" } as tls.PeerCertificate)).toBeInstanceOf(
        Error,
      );
      expect(
        mesh.checkPeer("x", {
          subjectaltname: "URI:spiffe://cluster.local/ns/default/sa/reviews",
        } as tls.PeerCertificate),
      ).toBeUndefined();
    } finally {
      mesh.stop();
    }
  });
});

describe("rotation", () => {
  it("new files in the identity dir: zero failed requests, config_dump shows the new fingerprint", async () => {
    const serverDir = workload(ca, "reviews");
    const p = await serverSidecar(serverDir, "STRICT");
    const mesh = new MeshTls({ identityDir: workload(ca, "productpage"), pollMs: 100 });
    const pools = new UpstreamPools({
      connections: 2,
      connectTimeoutMs: 5000,
      keepAliveTimeoutMs: 4000,
      mesh,
    });
    const fingerprint = () =>
      (p.configDump() as { workloadCertificate: { fingerprint256: string } }).workloadCertificate
        .fingerprint256;
    try {
      const before = fingerprint();
      const results: string[] = [];
      let rotated = false;
      const deadline = Date.now() + 10_000;
      let i = 0;
      // Light load: requests on the pool and on fresh mTLS connections, across the rotation.
      while (Date.now() < deadline) {
        results.push(await poolGet(pools, endpoint(inboundPort(p))));
        results.push((await rawGet(inboundPort(p), mesh.watcher.dir)).split("\r\n")[0]!);
        if (++i === 5)
          issueWorkload(ca, serverDir, { namespace: "default", serviceAccount: "reviews", ttlMs: HOUR });
        if (i > 5 && fingerprint() !== before) {
          if (rotated) break;
          rotated = true;
        }
      }
      expect(rotated).toBe(true);
      expect(results.length).toBeGreaterThan(10);
      expect(results.filter((r) => r !== "200" && r !== "HTTP/1.1 200 OK")).toEqual([]);
      expect(fingerprint()).toBe(loadWorkloadCert(serverDir).fingerprint256);
      // A new handshake now sees the new certificate.
      const peer = await new Promise<string>((resolve, reject) => {
        const c = loadWorkloadCert(mesh.watcher.dir);
        const s = tls.connect(
          {
            port: inboundPort(p),
            host: "127.0.0.1",
            cert: c.certPem,
            key: c.keyPem,
            ca: c.rootPem,
            checkServerIdentity: () => undefined,
          },
          () => {
            resolve(s.getPeerX509Certificate()!.fingerprint256);
            s.destroy();
          },
        );
        s.on("error", reject);
      });
      expect(peer).toBe(fingerprint());
    } finally {
      await pools.close();
      mesh.stop();
      await p.close();
    }
  });
});
