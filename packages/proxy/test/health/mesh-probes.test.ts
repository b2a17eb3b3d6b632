/**
 * Probes to mutual-TLS endpoints (health/mesh-probes.ts), with real TLS on loopback: an endpoint
 * that accepts only mTLS clients of the mesh root (as a STRICT sidecar inbound) refuses the
 * plaintext probe, and passes the probe MeshProbes sends because its service's DestinationRule
 * says ISTIO_MUTUAL; a service without it is probed in plaintext as before.
 */
import { mkdtempSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSnapshot, type ConfigSnapshot, type Endpoint } from "@lanecar/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeshProbes, mutualTlsEndpoints } from "../../src/health/mesh-probes.js";
import { type ProbeOutcome, sendProbe } from "../../src/health/probe-request.js";
import { initCa, issueWorkload, loadWorkloadCert } from "../../src/identity/index.js";
import { MeshTls } from "../../src/identity/mesh-tls.js";
import { TlsPlans } from "../../src/upstream/tls-plan.js";

const HOUR = 3600_000;

function snapshot(port: number, plainPort = port + 1, serviceAccount = "reviews"): ConfigSnapshot {
  const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews }
spec:
  hosts: [reviews]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: reviews } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings }
spec:
  hosts: [ratings]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  workloadSelector: { labels: { app: ratings } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  trafficPolicy: { tls: { mode: ISTIO_MUTUAL } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v1 }
spec: { address: 127.0.0.1, ports: { http: ${port} }, labels: { app: reviews }, serviceAccount: ${serviceAccount} }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ratings-v1 }
spec: { address: 127.0.0.1, ports: { http: ${plainPort} }, labels: { app: ratings } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: all }
spec:
  metadata: { labels: { app: reviews } }
  probe: { httpGet: { path: /health, port: ${port} }, timeoutSeconds: 2 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: { name: ratings }
spec:
  metadata: { labels: { app: ratings } }
  probe: { httpGet: { path: /health, port: ${plainPort} }, timeoutSeconds: 2 }
`;
  const r = buildSnapshot([{ file: "probes.yaml", text: yaml }]);
  if (!r.snapshot) throw new Error(JSON.stringify(r.diagnostics));
  return r.snapshot;
}

function probeOnce(send: typeof sendProbe, ep: Endpoint): Promise<ProbeOutcome> {
  return new Promise((resolve) => send(ep, ep.probe!, resolve));
}

let server: Server;
let port = 0;
let mesh: MeshTls;
let otherMesh: MeshTls;
let seen: string[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-mesh-probes-"));
  const ca = join(dir, "ca");
  const other = join(dir, "other-ca");
  initCa(ca);
  initCa(other);
  for (const [root, sa] of [
    [ca, "reviews"],
    [ca, "prober"],
    [other, "stranger"],
  ] as const)
    issueWorkload(root, join(dir, sa), { namespace: "default", serviceAccount: sa, ttlMs: HOUR });
  const id = loadWorkloadCert(join(dir, "reviews"));
  // What a STRICT inbound accepts: a TLS handshake with a client certificate from the mesh root.
  server = createHttpsServer(
    { cert: id.certPem, key: id.keyPem, ca: id.rootPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      seen.push(`${req.url} ${req.headers["x-lanecar-probe"]}`);
      res.end("ok");
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  port = (server.address() as AddressInfo).port;
  mesh = new MeshTls({ identityDir: join(dir, "prober") });
  otherMesh = new MeshTls({ identityDir: join(dir, "stranger") });
});
afterAll(async () => {
  mesh?.stop();
  otherMesh?.stop();
  server?.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe("probes to ISTIO_MUTUAL endpoints", () => {
  it("finds the endpoints whose service's DestinationRule says ISTIO_MUTUAL", () => {
    expect([...mutualTlsEndpoints(snapshot(port), new TlsPlans(mesh, undefined)).keys()]).toEqual([
      `127.0.0.1:${port}`,
    ]);
  });

  it("a plaintext probe is refused by an mTLS-only endpoint; MeshProbes' mTLS probe passes", async () => {
    const snap = snapshot(port);
    const ep = snap.registry.allEndpoints().find((e) => e.port === port)!;
    seen = [];
    const plain = await probeOnce(sendProbe, ep);
    expect(plain.ok).toBe(false);
    const probes = new MeshProbes(new TlsPlans(mesh, undefined));
    probes.update(snap);
    expect(await probeOnce(probes.send, ep)).toEqual({ ok: true, detail: 200 });
    expect(seen).toEqual(["/health 1"]);
  });

  it("an identity from another root fails the probe (the peer is checked both ways)", async () => {
    const snap = snapshot(port);
    const ep = snap.registry.allEndpoints().find((e) => e.port === port)!;
    const probes = new MeshProbes(new TlsPlans(otherMesh, undefined));
    probes.update(snap);
    seen = [];
    expect((await probeOnce(probes.send, ep)).ok).toBe(false);
    expect(seen).toEqual([]);
  });

  it("the probe checks the endpoint's service account, as the data path does", async () => {
    const snap = snapshot(port, port + 1, "ratings");
    const ep = snap.registry.allEndpoints().find((e) => e.port === port)!;
    const probes = new MeshProbes(new TlsPlans(mesh, undefined));
    probes.update(snap);
    seen = [];
    const o = await probeOnce(probes.send, ep);
    expect(o.ok).toBe(false);
    expect(String(o.detail)).toContain("/sa/ratings");
    expect(seen).toEqual([]);
  });

  it("without ISTIO_MUTUAL the probe stays plaintext; without an identity too", async () => {
    seen = [];
    const plain = createHttpServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", () => r()));
    try {
      const plainPort = (plain.address() as AddressInfo).port;
      const snap = snapshot(port, plainPort);
      const ratings = snap.registry.allEndpoints().find((e) => e.port === plainPort)!;
      const reviews = snap.registry.allEndpoints().find((e) => e.port === port)!;
      const probes = new MeshProbes(new TlsPlans(mesh, undefined));
      probes.update(snap);
      expect(await probeOnce(probes.send, ratings)).toEqual({ ok: true, detail: 200 });
      // Without plans (a process without an identity) every probe is plaintext: refused here.
      const noIdentity = new MeshProbes(undefined);
      noIdentity.update(snap);
      expect((await probeOnce(noIdentity.send, reviews)).ok).toBe(false);
      expect(seen).toEqual([]);
    } finally {
      await new Promise<void>((r) => plain.close(() => r()));
    }
  });
});
