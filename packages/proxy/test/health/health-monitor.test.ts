import { buildSnapshot, type ConfigSnapshot, type Endpoint } from "@lanecar/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { HealthMonitor } from "../../src/health/index.js";
import {
  closedPort,
  closeForwarder,
  forward,
  outlier,
  statusServer,
  type TestServer,
  waitFor,
} from "./helpers.js";

const servers: TestServer[] = [];
const monitors: HealthMonitor[] = [];
afterEach(async () => {
  for (const m of monitors.splice(0)) m.stop();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(closeForwarder);

const HOST = "reviews.default.svc.cluster.local";

/** reviews: v1 on `prod`, v2 on `gray` with a WorkloadGroup probe on `healthPort`. */
function snapshot(v1Port: number, v2Port: number, healthPort: number, extra = ""): ConfigSnapshot {
  const text = `
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${v1Port}}, labels: {app: reviews, version: v1, ASM_TRAFFIC_TAG: prod}}
  - {address: 127.0.0.1, ports: {http: ${v2Port}}, labels: {app: reviews, version: v2, ASM_TRAFFIC_TAG: gray}}
${extra}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: prod, labels: {ASM_TRAFFIC_TAG: prod}}
  - {name: gray, labels: {ASM_TRAFFIC_TAG: gray}}
---
apiVersion: networking.istio.io/v1alpha3
kind: WorkloadGroup
metadata: {name: reviews-v2}
spec:
  metadata:
    labels: {app: reviews, version: v2}
  probe:
    httpGet: {path: /health, port: ${healthPort}}
    periodSeconds: 10
    failureThreshold: 1
`;
  const r = buildSnapshot([{ file: "reviews.yaml", text }], { namespace: "default" });
  if (!r.snapshot) throw new Error(JSON.stringify(r.diagnostics));
  return r.snapshot;
}

/** Test timings: config periods are whole seconds, tests use 50 ms. */
function fast(eps: Endpoint[]): Endpoint[] {
  return eps.map((e) => (e.probe ? { ...e, probe: { ...e.probe, periodMs: 50, timeoutMs: 300 } } : e));
}

describe("HealthMonitor with a real config snapshot", () => {
  it("probes the WorkloadGroup's endpoints and makes a lane unavailable when its probe fails", async () => {
    const v1 = await statusServer(200);
    const v2 = await statusServer(200);
    const health = await statusServer(200);
    servers.push(v1, v2, health);
    const snap = snapshot(v1.port, v2.port, health.port);
    const gray = snap.registry.cluster(HOST, 9080, "gray")!;
    const prod = snap.registry.cluster(HOST, 9080, "prod")!;
    expect(gray.endpoints.map((e) => e.port)).toEqual([v2.port]);

    const m = new HealthMonitor();
    monitors.push(m);
    m.update(fast(snap.registry.allEndpoints()));
    expect(m.prober.keys()).toEqual([gray.endpoints[0]!.key]);
    await m.start();
    expect(gray.anyAvailable(m.state)).toBe(true);
    expect(health.hits[0]?.url).toBe("/health");

    health.status.code = 503;
    // The condition SPEC §5 calls noavailabled: the subset selects endpoints, none available.
    await waitFor(() => !gray.anyAvailable(m.state), 2000, "gray lane down");
    expect(gray.pick(m.state)).toBeUndefined();
    expect(prod.anyAvailable(m.state)).toBe(true);
    expect(m.state.describe(gray.endpoints[0]!.key)).toMatchObject({ healthy: false, reason: "probe" });

    health.status.code = 200;
    await waitFor(() => gray.anyAvailable(m.state), 2000, "gray lane back");
  });

  it("a lane whose only instance refuses connections is unavailable at once, without probe or policy", async () => {
    const v1 = await statusServer(200);
    servers.push(v1);
    const snap = snapshot(v1.port, await closedPort(), await closedPort());
    const prod = snap.registry.cluster(HOST, 9080, "prod")!;
    const m = new HealthMonitor({ connectFailureBackoffMs: 5000 });
    monitors.push(m);
    const eps = snap.registry.allEndpoints().map((e) => ({ ...e, probe: undefined }));
    m.update(eps);
    await m.start();
    const ep = prod.endpoints[0]!;
    await v1.close();
    servers.splice(servers.indexOf(v1), 1);
    expect(await forward(m.state, ep, prod.policy.outlierDetection, prod.endpoints)).toBe("connect-failure");
    expect(prod.anyAvailable(m.state)).toBe(false);
  });

  it("keeps health across a config reload for unchanged endpoints and drops removed ones", async () => {
    const v1 = await statusServer(500);
    const v2 = await statusServer(200);
    const health = await statusServer(200);
    servers.push(v1, v2, health);
    const m = new HealthMonitor();
    monitors.push(m);
    const snap1 = snapshot(v1.port, v2.port, health.port);
    m.update(fast(snap1.registry.allEndpoints()));
    await m.start();
    const prod1 = snap1.registry.cluster(HOST, 9080, "prod")!;
    const od = outlier({ consecutive5xxErrors: 2, baseEjectionTimeMs: 60_000 });
    await forward(m.state, prod1.endpoints[0]!, od, prod1.endpoints);
    await forward(m.state, prod1.endpoints[0]!, od, prod1.endpoints);
    expect(prod1.anyAvailable(m.state)).toBe(false);

    // Reload: same endpoints plus one more prod instance.
    const extra = await statusServer(200);
    servers.push(extra);
    const snap2 = snapshot(
      v1.port,
      v2.port,
      health.port,
      `  - {address: 127.0.0.1, ports: {http: ${extra.port}}, labels: {app: reviews, version: v1, ASM_TRAFFIC_TAG: prod}}`,
    );
    m.update(fast(snap2.registry.allEndpoints()));
    const prod2 = snap2.registry.cluster(HOST, 9080, "prod")!;
    expect(prod2.endpoints).toHaveLength(2);
    expect(m.state.isAvailable(prod2.endpoints[0]!)).toBe(false);
    expect(prod2.pick(m.state)?.port).toBe(extra.port);
    expect(m.state.describe(prod2.endpoints[0]!.key).reason).toBe("outlier");

    // Reload without the ejected instance: its state is forgotten.
    const snap3 = snapshot(extra.port, v2.port, health.port);
    m.update(fast(snap3.registry.allEndpoints()));
    expect(Object.keys(m.state.snapshot())).not.toContain(prod1.endpoints[0]!.key);
    expect(m.prober.keys()).toHaveLength(1);
  });
});
