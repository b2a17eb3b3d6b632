/**
 * The admin API of a running sidecar (SPEC section 9), black-box: readiness, liveness, metrics,
 * the config dump, clusters with endpoint health as probes see it, and POST /drain.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mesh } from "../support/mesh.js";
import { metric } from "../support/metrics.js";

interface Cluster {
  name: string;
  host: string;
  port: number;
  subset: string | null;
  endpoints: {
    address: string;
    port: number;
    labels: Record<string, string>;
    health: { healthy: boolean };
  }[];
}

describe("admin API of a sidecar", () => {
  const mesh = new Mesh({
    instances: [
      { service: "a", lane: "prod", calls: ["b:9080"] },
      { service: "b", lane: "prod" },
      { service: "b", lane: "gray" },
    ],
    probeMs: 1000,
  });
  let admin = "";
  beforeAll(async () => {
    await mesh.start();
    admin = `127.0.0.1:${mesh.find("a", "prod").admin}`;
  }, 60_000);
  afterAll(() => mesh.stop());

  const get = async (path: string) => {
    const r = await fetch(`http://${admin}${path}`);
    return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
  };

  it("GET /ready is 200 LIVE and GET /healthz 200 while serving", async () => {
    expect(await get("/ready")).toMatchObject({ status: 200, text: "LIVE" });
    expect((await get("/healthz")).status).toBe(200);
  });

  it("GET /metrics is Prometheus text with Istio's request metrics, per lane", async () => {
    const a = mesh.find("a", "prod");
    for (const lane of ["gray", "prod"]) {
      const r = await fetch(`http://127.0.0.1:${a.inbound}/`, { headers: { "x-asm-prefer-tag": lane } });
      expect(r.status).toBe(200);
      await r.text();
    }
    const m = await get("/metrics");
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain/);
    expect(m.text).toMatch(/^# TYPE istio_requests_total counter$/m);
    expect(m.text).toMatch(/^# TYPE istio_request_duration_milliseconds histogram$/m);
    for (const lane of ["gray", "prod"])
      expect(
        await metric(admin, "istio_requests_total", { reporter: "source", lane, response_code: "200" }),
      ).toBeGreaterThanOrEqual(1);
    expect(await metric(admin, "istio_requests_total", { reporter: "destination" })).toBeGreaterThanOrEqual(
      2,
    );
  });

  it("GET /config_dump shows the version, sources, resources and no reload error", async () => {
    const d = JSON.parse((await get("/config_dump")).text) as {
      version: string;
      sources: string[];
      resources: { kind: string; name: string; namespace: string }[];
      lastReloadError: unknown;
    };
    expect(d.version).toMatch(/^[0-9a-f]{6,}$/);
    expect(d.sources).toEqual([mesh.configPath]);
    expect(d.resources.map((r) => `${r.kind}/${r.namespace}/${r.name}`)).toEqual(
      expect.arrayContaining([
        "TrafficLabel/default/lanes",
        "DestinationRule/default/b",
        "VirtualService/default/b",
      ]),
    );
    expect(d.lastReloadError).toBeNull();
  });

  it("GET /clusters?format=json lists endpoints per host and subset, with labels and health", async () => {
    const cs = JSON.parse((await get("/clusters?format=json")).text) as Cluster[];
    const gray = cs.find((c) => c.host === "b.default.svc.cluster.local" && c.subset === "gray");
    const bGray = mesh.find("b", "gray");
    expect(gray?.endpoints).toEqual([
      expect.objectContaining({
        address: "127.0.0.1",
        port: bGray.inbound,
        labels: expect.objectContaining({ ASM_TRAFFIC_TAG: "gray" }),
        health: expect.objectContaining({ healthy: true }),
      }),
    ]);
    const text = await get("/clusters");
    expect(text.type).toMatch(/^text\/plain/);
    expect(text.text).toContain(`127.0.0.1:${bGray.inbound}::health::`);

    // The gray instance of b goes away: its probe fails and /clusters says so.
    await mesh.stopInstance(bGray);
    const until = Date.now() + 5000;
    let healthy = true;
    while (healthy && Date.now() < until) {
      const now = JSON.parse((await get("/clusters?format=json")).text) as Cluster[];
      healthy = now.find((c) => c.subset === "gray" && c.host.startsWith("b."))!.endpoints[0]!.health.healthy;
      if (healthy) await new Promise((r) => setTimeout(r, 100));
    }
    expect(healthy).toBe(false);
  });

  it("POST /drain: /ready turns 503 DRAINING and the listeners stop accepting; admin stays up", async () => {
    const a = mesh.find("a", "prod");
    const r = await fetch(`http://${admin}/drain`, { method: "POST" });
    expect(r.status).toBe(200);
    await r.text();
    expect(await get("/ready")).toMatchObject({ status: 503, text: "DRAINING" });
    const until = Date.now() + 6000;
    let refused = false;
    while (!refused && Date.now() < until) {
      // Refused means ECONNREFUSED: a reset, a timeout or a 5xx is not "stopped accepting".
      refused = await fetch(`http://127.0.0.1:${a.inbound}/`).then(
        async (x) => {
          await x.text();
          return false;
        },
        (err: Error & { cause?: { code?: string } }) => err.cause?.code === "ECONNREFUSED",
      );
      if (!refused) await new Promise((res) => setTimeout(res, 100));
    }
    expect(refused).toBe(true);
    expect((await get("/healthz")).status).toBe(200);
  });
});
