/**
 * Two sidecars with mutual TLS between them (issue 15): the client sidecar's outbound routes to a
 * ServiceEntry whose cluster is ISTIO_MUTUAL, through a relay that records the bytes, to the
 * server sidecar's STRICT inbound and its app. A server identity from another CA is `503 UF` with
 * the TLS reason in the body. The DestinationRule's `trafficPolicy.tls.mode: ISTIO_MUTUAL` selects
 * mutual TLS; the route path is the real one (RoutedListener → Exchange → pools).
 */
import { mkdtempSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCa, issueWorkload } from "../../src/identity/index.js";
import type { ProxyProcess } from "../../src/process/proxy-process.js";
import { HOST, istioMutualConfig, meshSidecar } from "./mesh-sidecars.js";

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "lanecar-mtls-chain-"));
}

function identity(ca: string, sa: string): string {
  const dir = join(tmp(), sa);
  issueWorkload(ca, dir, { namespace: "default", serviceAccount: sa, ttlMs: 3600_000 });
  return dir;
}

let app: http.Server;
let seen: string[] = [];

beforeAll(async () => {
  app = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end("from-server-app");
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
});
afterAll(async () => {
  app.closeAllConnections();
  await new Promise<void>((r) => app.close(() => r()));
});

const config = (port: number): string => istioMutualConfig(tmp(), port);
const sidecar = (service: string, cfg: string, identityDir: string | undefined): Promise<ProxyProcess> =>
  meshSidecar(service, cfg, (app.address() as net.AddressInfo).port, identityDir);

/** TLS record types in a byte stream (RFC 8446 §5.1); throws at a byte that starts no record. */
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

/** A TCP relay recording each direction (one connection at a time in these tests). */
async function relay(to: number): Promise<{ port: number; up: Buffer[]; down: Buffer[]; close: () => void }> {
  const up: Buffer[] = [];
  const down: Buffer[] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const u = net.connect({ port: to, host: "127.0.0.1" });
    socks.add(c).add(u);
    c.on("data", (d) => {
      up.push(d);
      u.write(d);
    });
    u.on("data", (d) => {
      down.push(d);
      c.write(d);
    });
    for (const s of [c, u]) {
      s.on("error", () => {});
      s.on("close", () => {
        c.destroy();
        u.destroy();
      });
    }
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    up,
    down,
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

function viaOutbound(p: ProxyProcess, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: p.addresses.get("outbound")!.port,
        path,
        headers: { host: `${HOST}:9080` },
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("sidecar → sidecar over ISTIO_MUTUAL", () => {
  it("the request reaches the server app; the relay sees only TLS records", async () => {
    const ca = join(tmp(), "ca");
    initCa(ca);
    const server = await sidecar("upstream", config(1), identity(ca, "upstream"));
    const r = await relay(server.addresses.get("inbound")!.port);
    const client = await sidecar("productpage", config(r.port), identity(ca, "productpage"));
    try {
      seen = [];
      for (let i = 0; i < 3; i++) {
        const res = await viaOutbound(client, `/secret-path-${i}`);
        expect(res).toEqual({ status: 200, body: "from-server-app" });
      }
      expect(seen).toEqual(["GET /secret-path-0", "GET /secret-path-1", "GET /secret-path-2"]);
      // One kept-alive connection: each direction is a stream of whole TLS records.
      const up = Buffer.concat(r.up);
      const down = Buffer.concat(r.down);
      expect(up[0]).toBe(0x16);
      expect(recordTypes(up).filter((t) => t === 0x17).length).toBeGreaterThanOrEqual(3);
      expect(recordTypes(down).filter((t) => t === 0x17).length).toBeGreaterThanOrEqual(3);
      expect(up.includes("secret-path")).toBe(false);
      expect(down.includes("from-server-app")).toBe(false);
    } finally {
      r.close();
      await client.close();
      await server.close();
    }
  });

  it("a server whose certificate is from another CA: 503 UF with the TLS reason", async () => {
    const ca = join(tmp(), "ca");
    const other = join(tmp(), "other");
    initCa(ca);
    initCa(other);
    const server = await sidecar("upstream", config(1), identity(other, "upstream"));
    const client = await sidecar(
      "productpage",
      config(server.addresses.get("inbound")!.port),
      identity(ca, "productpage"),
    );
    try {
      seen = [];
      const res = await viaOutbound(client, "/x");
      expect(res.status).toBe(503);
      expect(res.body).toMatch(
        /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure, transport failure reason: TLS_error: /,
      );
      expect(seen).toEqual([]);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it("ISTIO_MUTUAL without a workload identity fails closed: 503 UF, nothing sent in the clear", async () => {
    const ca = join(tmp(), "ca");
    initCa(ca);
    const server = await sidecar("upstream", config(1), identity(ca, "upstream"));
    const r = await relay(server.addresses.get("inbound")!.port);
    const client = await sidecar("productpage", config(r.port), undefined);
    try {
      seen = [];
      const res = await viaOutbound(client, "/no-identity");
      expect(res.status).toBe(503);
      expect(res.body).toMatch(/^upstream connect error or disconnect\/reset before headers/);
      expect(seen).toEqual([]);
      expect(Buffer.concat(r.up).includes("no-identity")).toBe(false);
    } finally {
      r.close();
      await client.close();
      await server.close();
    }
  });
});
