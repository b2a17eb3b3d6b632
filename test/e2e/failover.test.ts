/**
 * Issue 3 acceptance: killing the only gray instance of B. Within one probe period every request
 * that would go to gray-B is served by prod-B, no GET fails meanwhile, and restarting gray-B
 * brings gray back. Issue 11, item 12: a gray instance ejected by outlier detection while it
 * restarted gets gray traffic back at its first passing probe, not after baseEjectionTime.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LANES_LABEL, type Started, serviceEntry, startSidecarProcess } from "../hardening/support/proxy.js";
import { type Hop, path } from "../support/apps.js";
import { eventually, sleep, startLoad } from "../support/load.js";
import { Mesh } from "../support/mesh.js";

describe("gray instance of B dies and comes back", () => {
  const mesh = new Mesh({
    probeMs: 1000,
    instances: [
      { service: "a", lane: "prod", calls: ["b:9080"] },
      { service: "a", lane: "gray", calls: ["b:9080"] },
      { service: "b", lane: "prod", calls: ["c:9080"] },
      { service: "b", lane: "gray", calls: ["c:9080"] },
      { service: "c", lane: "prod" },
      { service: "c", lane: "gray" },
    ],
  });
  let gw = "";
  beforeAll(async () => {
    await mesh.start();
    gw = `http://127.0.0.1:${mesh.gatewayPort}/`;
  }, 60_000);
  afterAll(() => mesh.stop());

  const gray = { "x-asm-prefer-tag": "gray" };
  const lanesOf = (body: string) => path(JSON.parse(body) as Hop).join(" ");

  it("serves gray everywhere while gray-B is up", async () => {
    const r = await fetch(gw, { headers: gray });
    expect(lanesOf(await r.text())).toBe("a=v2 b=v2 c=v2");
  });

  it("falls back to prod-B at once, fails no GET, and returns to gray after a restart", async () => {
    const load = startLoad(gw, { concurrency: 4, headers: gray, keepBodies: true, maxMs: 20_000 });
    await sleep(500);
    const bGray = mesh.find("b", "gray");
    await mesh.stopInstance(bGray);
    const killedAt = load.result.bodies.length;
    await sleep(1500); // more than one probe period
    const afterProbe = load.result.bodies.length;
    await sleep(500);
    const steady = load.result.bodies.slice(afterProbe).map(lanesOf);
    expect(steady.length).toBeGreaterThan(10);
    expect(new Set(steady)).toEqual(new Set(["a=v2 b=v1 c=v2"]));

    await mesh.startInstance(bGray);
    const back = await eventually(async () => {
      const r = await fetch(gw, { headers: gray });
      return lanesOf(await r.text()) === "a=v2 b=v2 c=v2";
    }, 5000);
    const res = await load.stop();
    expect(back).toBe(true);
    expect(res.errors).toEqual([]);
    expect(res.bodies.filter((b) => b.includes("error:"))).toEqual([]);
    expect(res.ok).toBe(res.sent);
    expect(killedAt).toBeGreaterThan(0);
  }, 40_000);
});

describe("a gray instance ejected while it restarted comes back with its probe", () => {
  /** What the gray instance answers: its app (requests) and its health endpoint (probes). */
  const gray = { app: 200, health: 200, probes: 0 };
  const servers: Server[] = [];
  let sc: Started;

  const serve = async (handler: Parameters<typeof createServer>[1]): Promise<number> => {
    const srv = createServer(handler);
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    return (srv.address() as AddressInfo).port;
  };

  beforeAll(async () => {
    const prodPort = await serve((_req, res) => res.end("prod"));
    const grayPort = await serve((req, res) => {
      if (req.url === "/health") {
        gray.probes++;
        res.writeHead(gray.health);
        res.end();
        return;
      }
      res.writeHead(gray.app);
      res.end(gray.app === 200 ? "gray" : "app gone");
    });
    // The caller is a gray pod: its outbound calls carry lane gray ($localLabel).
    sc = await startSidecarProcess({
      appPort: prodPort,
      podLabels: "app=a,version=v2,ASM_TRAFFIC_TAG=gray",
      yaml: [
        LANES_LABEL,
        serviceEntry("b", [
          { port: prodPort, labels: { app: "b", version: "v1", ASM_TRAFFIC_TAG: "prod" } },
          { port: grayPort, labels: { app: "b", version: "v2", ASM_TRAFFIC_TAG: "gray" } },
        ]),
        // The Bookinfo policy: two gateway errors eject for 15 s, even the last instance.
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b}
spec:
  host: b
  trafficPolicy:
    outlierDetection: {consecutiveGatewayErrors: 2, interval: 5s, baseEjectionTime: 15s, maxEjectionPercent: 100}
  subsets:
  - {name: prod, labels: {ASM_TRAFFIC_TAG: prod}}
  - {name: gray, labels: {ASM_TRAFFIC_TAG: gray}}`,
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - route:
    - destination: {host: b, subset: $x-asm-prefer-tag}
      fallback: {case: noinstances|noavailabled, target: {host: b, subset: prod}}`,
        `apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: b-gray}
spec:
  metadata: {labels: {app: b, ASM_TRAFFIC_TAG: gray}}
  probe:
    periodSeconds: 1
    failureThreshold: 1
    successThreshold: 1
    httpGet: {path: /health, port: ${grayPort}}`,
      ],
    });
  }, 30_000);
  afterAll(async () => {
    await sc?.stop();
    for (const srv of servers) {
      srv.closeAllConnections();
      srv.close();
    }
  });

  const grayCall = async () => {
    const r = await request(`http://127.0.0.1:${sc.outbound}/`, {
      headers: { host: "b:9080" },
    });
    return r.body.text();
  };

  it("is ejected, falls back to prod, and serves gray again within two probe periods of coming back", async () => {
    expect(await grayCall()).toBe("gray");
    // Just after a probe (the next is a period away) gray restarts: its app answers 503.
    const seen = gray.probes;
    await eventually(async () => gray.probes > seen, 5000);
    gray.app = 503;
    gray.health = 503;
    // 503, retried on gray (503 again: ejected), then the fallback: the user sees prod.
    expect(await grayCall()).toBe("prod");
    expect(await grayCall()).toBe("prod");
    // Back up: the next passing probe un-ejects it, long before the 15 s ejection ends.
    gray.app = 200;
    gray.health = 200;
    const t0 = performance.now();
    const back = await eventually(async () => (await grayCall()) === "gray", 12_000);
    const ms = performance.now() - t0;
    expect(back).toBe(true);
    // Two probe periods and a margin for a loaded machine; the ejection alone would hold 15 s.
    expect(ms).toBeLessThan(8000);
  }, 40_000);
});
