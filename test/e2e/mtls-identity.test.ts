/**
 * Issue 15 items 2 and 6, black box on real `lanecar sidecar` processes: the client sidecar's
 * ISTIO_MUTUAL connection must reach the workload the WorkloadEntry names (its `serviceAccount`):
 * the right service account is 200, another is `503 UF` naming both identities. Auto mTLS: with
 * no DestinationRule tls, an endpoint labelled `security.istio.io/tlsMode: istio` gets mutual TLS
 * (a relay sees only TLS records), an unlabelled one plaintext. The source-side metrics carry both
 * principals over mTLS, `unknown` over plaintext; `connection_security_policy` is `unknown` at the
 * source, as in Istio.
 */
import { mkdtempSync } from "node:fs";
import { request as httpRequest } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCa, issueWorkload } from "../../packages/proxy/src/identity/index.js";
import { type Started, startSidecarProcess } from "../hardening/support/proxy.js";
import { startApp, type TestApp } from "../support/apps.js";
import { freePort } from "../support/ports.js";

/** mTLS runs on Lanecar's codec only (the fallback refuses --identity-dir at start). */
const H1 = { LANECAR_DATA_PATH: "h1" };
const REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews";
const PRODUCTPAGE = "spiffe://cluster.local/ns/default/sa/productpage";

interface Relay {
  port: number;
  /** What the client side sent, one stream per connection (a retry may open a second). */
  streams: Buffer[][];
  close(): void;
}

/** Each connection's bytes, whole. */
const wires = (r: Relay): Buffer[] => r.streams.map((c) => Buffer.concat(c));

/** A TCP relay to `to` recording what the client side sends. */
async function relay(to: number): Promise<Relay> {
  const streams: Buffer[][] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const u = net.connect({ port: to, host: "127.0.0.1" });
    socks.add(c).add(u);
    const bytes: Buffer[] = [];
    streams.push(bytes);
    c.on("data", (d) => {
      bytes.push(d);
      u.write(d);
    });
    u.pipe(c);
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
    streams,
    close: () => {
      for (const s of socks) s.destroy();
      srv.close();
    },
  };
}

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

function get(port: number, host: string): Promise<{ status: number; flags: string; body: string }> {
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: "127.0.0.1", port, path: "/reviews/0", headers: { host } }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, flags: String(res.headers["x-lanecar-flags"] ?? "-"), body }),
      );
    });
    r.on("error", reject);
    r.end();
  });
}

/** A MESH_INTERNAL ServiceEntry with one WorkloadEntry at `port` (labels, service account). */
function service(name: string, port: number, extra: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: ${name}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}-1, namespace: default}
spec: {address: 127.0.0.1, ports: {http: ${port}}, ${extra}}`;
}

function istioMutual(name: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: default}
spec:
  host: ${name}.default.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}`;
}

describe("ISTIO_MUTUAL peer identity and auto mTLS between two sidecar processes", () => {
  let app: TestApp;
  let server: Started;
  let client: Started;
  const relays: Record<string, Relay> = {};

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "lanecar-mtls-identity-"));
    const ca = join(dir, "ca");
    initCa(ca);
    const id = (sa: string) => {
      const out = join(dir, sa);
      issueWorkload(ca, out, { namespace: "default", serviceAccount: sa, ttlMs: 3600_000 });
      return out;
    };
    const appPort = await freePort();
    app = await startApp({ service: "reviews", version: "v1", port: appPort });
    // The called workload: identity reviews, PERMISSIVE so the plaintext case reaches it too.
    server = await startSidecarProcess({
      appPort,
      service: "reviews",
      podLabels: "app=reviews,version=v1",
      yaml: service("unused", 1, "labels: {app: unused}"),
      args: ["--identity-dir", id("reviews"), "--mtls-mode", "PERMISSIVE"],
      env: H1,
    });
    for (const name of ["right", "wrong", "auto", "plain"]) relays[name] = await relay(server.port);
    client = await startSidecarProcess({
      appPort: await freePort(),
      service: "productpage",
      podLabels: "app=productpage,version=v1",
      args: ["--identity-dir", id("productpage")],
      env: H1,
      yaml: [
        service("right", relays.right!.port, "labels: {app: right}, serviceAccount: reviews"),
        istioMutual("right"),
        service("wrong", relays.wrong!.port, "labels: {app: wrong}, serviceAccount: ratings"),
        istioMutual("wrong"),
        service("auto", relays.auto!.port, 'labels: {app: auto, "security.istio.io/tlsMode": istio}'),
        service("plain", relays.plain!.port, "labels: {app: plain}"),
      ],
    });
  });
  afterAll(async () => {
    await client?.stop();
    await server?.stop();
    for (const r of Object.values(relays)) r.close();
    await app?.close();
  });

  it("the WorkloadEntry's service account presents its identity: 200 over mutual TLS", async () => {
    const r = await get(client.outbound, "right.default.svc.cluster.local:9080");
    expect(r.status).toBe(200);
    // Every connection carried TLS records only, and application data went over one.
    expect(wires(relays.right!).flatMap(recordTypes)).toContain(0x17);
  });

  it("another service account than the WorkloadEntry names: 503 UF, the body names both identities", async () => {
    const r = await get(client.outbound, "wrong.default.svc.cluster.local:9080");
    expect(r.status).toBe(503);
    expect(r.flags).toBe("UF");
    expect(r.body).toContain(
      `transport failure reason: TLS_error: peer "${REVIEWS}" is not "spiffe://cluster.local/ns/default/sa/ratings" (the endpoint's service account)`,
    );
    // The handshake happened (the server answered it), no request went through.
    for (const w of wires(relays.wrong!)) expect(w.includes("GET /reviews")).toBe(false);
  });

  it("auto mTLS: no DestinationRule tls, endpoint labelled tlsMode=istio → only TLS records on the wire", async () => {
    const r = await get(client.outbound, "auto.default.svc.cluster.local:9080");
    expect(r.status).toBe(200);
    const ws = wires(relays.auto!);
    expect(ws.length).toBeGreaterThan(0);
    for (const w of ws) {
      expect(w[0]).toBe(0x16);
      expect(w.includes("GET /reviews")).toBe(false);
    }
    expect(ws.flatMap(recordTypes)).toContain(0x17);
  });

  it("auto mTLS: an unlabelled endpoint gets plaintext", async () => {
    const r = await get(client.outbound, "plain.default.svc.cluster.local:9080");
    expect(r.status).toBe(200);
    expect(wires(relays.plain!).at(-1)!.toString("latin1")).toMatch(/^GET \/reviews\/0 HTTP\/1\.1\r\n/);
  });

  it("source-side metrics: both principals over mTLS, unknown over plaintext; policy unknown at the source", async () => {
    const text = await (await fetch(`http://${client.admin}/metrics`)).text();
    const series = (svc: string) =>
      text
        .split("\n")
        .find(
          (l) =>
            l.startsWith("istio_requests_total{") &&
            l.includes('reporter="source"') &&
            l.includes(`destination_service="${svc}.default.svc.cluster.local"`),
        ) ?? "";
    for (const svc of ["right", "auto"]) {
      expect(series(svc)).toContain(`source_principal="${PRODUCTPAGE}"`);
      expect(series(svc)).toContain(`destination_principal="${REVIEWS}"`);
      expect(series(svc)).toContain('connection_security_policy="unknown"');
    }
    expect(series("plain")).toContain('source_principal="unknown"');
    expect(series("plain")).toContain('destination_principal="unknown"');
  });
});
