/**
 * Peer metadata exchange and what counts as traffic, end to end on real processes: gateway → a →
 * b, each instance an app behind its own sidecar, WorkloadGroup probes on. The called sidecar
 * names its caller (`source_*`), the header never reaches an app, clients and apps cannot claim an
 * identity, probes stay out of `istio_*`, and the byte histograms count body bytes.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Hop } from "../support/apps.js";
import { Mesh } from "../support/mesh.js";
import { metric, parseMetrics } from "../support/metrics.js";

const PEER = "x-lanecar-peer-metadata";
const PROBE = "x-lanecar-probe";
let mesh: Mesh;
let gw: string;
let a: string;
let b: string;

beforeAll(async () => {
  mesh = new Mesh({
    instances: [
      { service: "a", lane: "prod", calls: ["b:9080"] },
      { service: "b", lane: "prod" },
    ],
    probeMs: 1000,
  });
  await mesh.start();
  gw = `http://127.0.0.1:${mesh.gatewayPort}`;
  a = `127.0.0.1:${mesh.find("a", "prod").admin}`;
  b = `127.0.0.1:${mesh.find("b", "prod").admin}`;
}, 60_000);

afterAll(async () => {
  await mesh?.stop();
}, 30_000);

async function get(url: string, headers: Record<string, string> = {}): Promise<Hop> {
  const r = await fetch(url, { headers });
  expect(r.status).toBe(200);
  return (await r.json()) as Hop;
}

async function series(admin: string, name: string, match: Record<string, string>) {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  return parseMetrics(text).filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

describe("peer metadata exchange", () => {
  it("names the caller on the called side, and never hands the header to an app", async () => {
    const hop = await get(`${gw}/`);
    expect(hop.downstream[0]!.service).toBe("b");
    for (const h of [hop.headers, hop.downstream[0]!.headers]) {
      expect(h[PEER]).toBeUndefined();
      expect(h[PROBE]).toBeUndefined();
    }
    const [s] = await series(b, "istio_requests_total", { reporter: "destination", source_workload: "a-v1" });
    expect(s?.labels).toMatchObject({
      source_workload_namespace: "default",
      source_app: "a",
      source_version: "v1",
      source_canonical_service: "a",
      source_canonical_revision: "v1",
      source_principal: "unknown",
      destination_workload: "b-v1",
      destination_service: "b.default.svc.cluster.local",
      destination_service_name: "b",
      destination_service_namespace: "default",
      connection_security_policy: "none",
    });
    // The gateway (`lanecar gateway` without pod labels: its Gateway's name) is a's caller.
    expect(
      await metric(a, "istio_requests_total", { reporter: "destination", source_workload: "edge" }),
    ).toBe(1);
  });

  it("lets neither a client nor an app claim an identity", async () => {
    // `cluster` is a field Lanecar does not send without --cluster: a copy let through would show.
    const forged = "workload=evil,namespace=default,app=evil,cluster=evil";
    await get(`${gw}/`, { [PEER]: forged, X_Lanecar_Peer_Metadata: forged });
    // The app's own call, forged: sent straight to a's outbound listener as the app would.
    const aOut = mesh.find("a", "prod").outbound;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: aOut,
          path: "http://b:9080/",
          headers: { host: "b:9080", [PEER]: forged },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(200);
    for (const admin of [a, b]) {
      expect(await series(admin, "istio_requests_total", { source_workload: "evil" })).toEqual([]);
      expect(await series(admin, "istio_requests_total", { source_cluster: "evil" })).toEqual([]);
    }
    expect(
      await metric(a, "istio_requests_total", { reporter: "destination", source_workload: "edge" }),
    ).toBe(2);
    expect(
      await metric(b, "istio_requests_total", { reporter: "destination", source_workload: "a-v1" }),
    ).toBe(3);
  });

  it("reports a caller from outside the mesh as unknown", async () => {
    await get(`http://127.0.0.1:${mesh.find("b", "prod").inbound}/`);
    expect(
      await metric(b, "istio_requests_total", {
        reporter: "destination",
        source_workload: "unknown",
        source_canonical_revision: "latest",
      }),
    ).toBe(1);
  });
});

describe("what counts as traffic", () => {
  it("keeps health probes out of istio_* and counts them apart", async () => {
    const until = Date.now() + 10_000;
    while ((await metric(b, "lanecar_inbound_probes_total")) < 3 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 200));
    expect(await metric(b, "lanecar_inbound_probes_total")).toBeGreaterThanOrEqual(3);
    // Exactly the requests of the tests above: 3 from a, 1 from outside.
    expect(await metric(b, "istio_requests_total", { reporter: "destination" })).toBe(4);
    expect(
      await metric(a, "istio_requests_total", { reporter: "source", destination_service_name: "b" }),
    ).toBe(3);
  });

  it("counts request and response body bytes, whatever the framing", async () => {
    const sum = (name: string) => metric(a, name, { reporter: "destination", source_workload: "edge" });
    const before = { req: await sum("istio_request_bytes_sum"), res: await sum("istio_response_bytes_sum") };
    const body = "x".repeat(1000);
    const r1 = await fetch(`${gw}/`, { method: "POST", body });
    const t1 = await r1.text();
    // A streamed body goes chunked: the count is of body bytes, not of the chunk framing.
    const r2 = await fetch(`${gw}/`, {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(body));
          c.enqueue(new TextEncoder().encode(body));
          c.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    const t2 = await r2.text();
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect(await sum("istio_request_bytes_sum")).toBe(before.req + 3000);
    expect(await sum("istio_response_bytes_sum")).toBe(
      before.res + Buffer.byteLength(t1) + Buffer.byteLength(t2),
    );
  });
});
