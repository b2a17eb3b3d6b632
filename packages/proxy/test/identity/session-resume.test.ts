/**
 * TLS session resumption on the mesh hop (issue 15: "sessions are reused"). A client that offers
 * the session of an earlier connection must get a resumed handshake, not an alert: OpenSSL
 * refuses to resume on a server that verifies client certificates unless the context carries a
 * session-id context, and answers with an internal-error alert. A bare server TLSSocket has none
 * (a tls.Server, which the inbound handshake now runs on, names one). The upstream pools offer
 * their saved session on every new connection, so without it every connection after a pool's
 * first failed (found by the benchmark's `lanecar-lanes-mtls`: 503s as soon as a pool opened a
 * second one). A rotation swaps the secure context, so a session from before it is not resumed.
 */
import { mkdtempSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCa, issueWorkload, loadWorkloadCert } from "../../src/identity/index.js";
import type { ProxyProcess } from "../../src/process/proxy-process.js";
import { startSidecar } from "../../src/process/sidecar.js";
import { HOST, istioMutualConfig, meshSidecar } from "./mesh-sidecars.js";

const quiet = { info: () => {}, error: () => {} };

let dir: string;
let app: http.Server;
let served = 0;

function identity(sa: string): string {
  const out = join(dir, sa);
  issueWorkload(join(dir, "ca"), out, { namespace: "default", serviceAccount: sa, ttlMs: 3600_000 });
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lanecar-resume-"));
  initCa(join(dir, "ca"));
  app = http.createServer((_req, res) => {
    served++;
    res.end("from-app");
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
});
afterAll(async () => {
  app.closeAllConnections();
  await new Promise<void>((r) => app.close(() => r()));
});

const config = (port: number): string => istioMutualConfig(dir, port);
const sidecar = (service: string, cfg: string, identityDir: string | undefined): Promise<ProxyProcess> =>
  meshSidecar(service, cfg, (app.address() as net.AddressInfo).port, identityDir);

interface Got {
  status: string;
  reused: boolean;
  session: Buffer | undefined;
}

/** One GET over mutual TLS, offering `session`; waits for the server's ticket before closing. */
function getOverTls(port: number, id: string, session?: Buffer): Promise<Got> {
  const c = loadWorkloadCert(id);
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      port,
      host: "127.0.0.1",
      cert: c.certPem,
      key: c.keyPem,
      ca: c.rootPem,
      session,
      checkServerIdentity: () => undefined,
    });
    let ticket: Buffer | undefined;
    let out = "";
    let reused = false;
    s.on("session", (t: Buffer) => {
      ticket = t;
    });
    s.on("secureConnect", () => {
      reused = s.isSessionReused();
      s.write(`GET /r HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
    });
    s.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    s.on("error", reject);
    s.on("close", () => resolve({ status: out.split("\r\n")[0]!, reused, session: ticket }));
  });
}

function viaOutbound(p: ProxyProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: p.addresses.get("outbound")!.port,
        path: "/r",
        headers: { host: `${HOST}:9080` },
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("TLS session resumption between sidecars", () => {
  it("a STRICT inbound resumes a client's session (no alert)", async () => {
    const server = await sidecar("upstream", config(1), identity("upstream"));
    const port = server.addresses.get("inbound")!.port;
    const client = identity("productpage");
    try {
      const first = await getOverTls(port, client);
      expect(first).toMatchObject({ status: "HTTP/1.1 200 OK", reused: false });
      expect(first.session).toBeInstanceOf(Buffer);
      const again = await getOverTls(port, client, first.session);
      expect(again).toMatchObject({ status: "HTTP/1.1 200 OK", reused: true });
    } finally {
      await server.close();
    }
  });

  it("after a rotation, a session from before it is not resumed (full handshake, new certificate)", async () => {
    const dirB = identity("upstream");
    const server = await startSidecar({
      config: [config(1)],
      service: "upstream",
      namespace: "default",
      podLabels: { app: "upstream" },
      inbound: "127.0.0.1:0",
      outbound: "127.0.0.1:0",
      app: `http://127.0.0.1:${(app.address() as net.AddressInfo).port}`,
      admin: undefined,
      logger: quiet,
      mtls: { identityDir: dirB, trustDomain: "cluster.local", mode: "STRICT", pollMs: 50 },
    });
    const port = server.addresses.get("inbound")!.port;
    const client = identity("productpage");
    const fingerprint = () =>
      (server.configDump() as { workloadCertificate: { fingerprint256: string } }).workloadCertificate
        .fingerprint256;
    try {
      const first = await getOverTls(port, client);
      const before = fingerprint();
      issueWorkload(join(dir, "ca"), dirB, {
        namespace: "default",
        serviceAccount: "upstream",
        ttlMs: 3600_000,
      });
      for (let i = 0; i < 100 && fingerprint() === before; i++) await new Promise((r) => setTimeout(r, 50));
      expect(fingerprint()).not.toBe(before);
      const again = await getOverTls(port, client, first.session);
      expect(again).toMatchObject({ status: "HTTP/1.1 200 OK", reused: false });
    } finally {
      await server.close();
    }
  });

  it("an ISTIO_MUTUAL pool that opens many connections at once: every request answered", async () => {
    const server = await sidecar("upstream", config(1), identity("upstream"));
    const client = await sidecar(
      "productpage",
      config(server.addresses.get("inbound")!.port),
      identity("productpage"),
    );
    try {
      expect(await viaOutbound(client)).toBe(200); // the pool now holds a session
      served = 0;
      const statuses = await Promise.all(Array.from({ length: 24 }, () => viaOutbound(client)));
      expect(statuses).toEqual(Array(24).fill(200));
      expect(served).toBe(24);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
