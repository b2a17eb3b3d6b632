/**
 * Issue 3 acceptance at the edge: `end-user: jason` matches per Istio, a weighted split converges
 * to its weights, and the lane the gateway decides is carried on as a header.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../support/apps.js";
import { type Running, startLanecar } from "../support/lanecar.js";
import { freePorts } from "../support/ports.js";

describe("gateway routing", () => {
  let gw: Running;
  let url = "";
  const apps: TestApp[] = [];
  beforeAll(async () => {
    const [p1, p2, listen, admin] = await freePorts(4);
    apps.push(
      await startApp({ service: "web", version: "v1", port: p1! }),
      await startApp({ service: "web", version: "v2", port: p2! }),
    );
    const dir = mkdtempSync(join(tmpdir(), "lanecar-gw-"));
    writeFileSync(
      join(dir, "gw.yaml"),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${p1}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: ${p2}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    headers: {request: {set: {x-asm-prefer-tag: gray}}}
    route: [{destination: {host: web, subset: v2}}]
  - name: split
    route:
    - {destination: {host: web, subset: v1}, weight: 70}
    - {destination: {host: web, subset: v2}, weight: 30}
`,
    );
    url = `http://127.0.0.1:${listen}/`;
    gw = await startLanecar(
      ["gateway", "--config", dir, "--listen", `127.0.0.1:${listen}`],
      `127.0.0.1:${admin}`,
    );
  }, 30_000);
  afterAll(async () => {
    await gw?.stop();
    await Promise.all(apps.map((a) => a.close()));
  });

  it("sends end-user: jason to v2 and sets the lane header there", async () => {
    for (let i = 0; i < 10; i++) {
      const r = await fetch(url, { headers: { "end-user": "jason" } });
      const hop = (await r.json()) as { version: string; headers: Record<string, string> };
      expect(hop.version).toBe("v2");
      expect(hop.headers["x-asm-prefer-tag"]).toBe("gray");
      expect(hop.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("is case-sensitive on the value, as Istio's exact match is", async () => {
    let v2 = 0;
    for (let i = 0; i < 40; i++) {
      const r = await fetch(url, { headers: { "end-user": "Jason" } });
      const hop = (await r.json()) as { headers: Record<string, string> };
      expect(hop.headers["x-asm-prefer-tag"]).toBeUndefined();
      if ((hop as unknown as { version: string }).version === "v2") v2++;
    }
    expect(v2).toBeLessThan(40);
  });

  it("converges to a 70/30 split for other users", async () => {
    // 300 requests: the bound is ±30 (3.8 standard deviations), so the test does not flake.
    const results = await Promise.all(
      Array.from(
        { length: 300 },
        async () => ((await (await fetch(url)).json()) as { version: string }).version,
      ),
    );
    const v1 = results.filter((v) => v === "v1").length;
    expect(v1).toBeGreaterThanOrEqual(180);
    expect(v1).toBeLessThanOrEqual(240);
    expect(results.filter((v) => v === "v2").length).toBe(300 - v1);
  });
});
