/**
 * Issue 3 acceptance: a three-hop chain A → B → C, each instance an app with its own sidecar
 * process, apps forwarding only x-request-id. Lanes must hold hop by hop, fall back where a
 * lane has no instance, and return to the lane at the next hop.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hop, path } from "../support/apps.js";
import { Mesh } from "../support/mesh.js";
import { metric } from "../support/metrics.js";

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; hop: Hop | undefined; text: string }> {
  const r = await fetch(url, { headers });
  const text = await r.text();
  return { status: r.status, hop: r.status === 200 ? (JSON.parse(text) as Hop) : undefined, text };
}

describe("three-hop chain, B has no gray instance", () => {
  const mesh = new Mesh({
    instances: [
      { service: "a", lane: "prod", calls: ["b:9080"] },
      { service: "a", lane: "gray", calls: ["b:9080"] },
      { service: "b", lane: "prod", calls: ["c:9080"] },
      { service: "c", lane: "prod" },
      { service: "c", lane: "gray" },
    ],
  });
  let gw = "";
  beforeAll(async () => {
    await mesh.start();
    gw = `http://127.0.0.1:${mesh.gatewayPort}`;
  }, 60_000);
  afterAll(() => mesh.stop());

  it("keeps a gray request gray at every hop that has gray, prod where it has none", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await get(`${gw}/`, { "x-asm-prefer-tag": "gray" });
      expect(r.status, r.text).toBe(200);
      expect(path(r.hop!)).toEqual(["a=v2", "b=v1", "c=v2"]);
    }
  });

  it("carries the lane to C as a header and a baggage member although apps forward only x-request-id", async () => {
    const r = await get(`${gw}/`, {
      "x-asm-prefer-tag": "gray",
      baggage: "user=alice,x-asm-prefer-tag=prod",
    });
    const c = r.hop!.downstream[0]!.downstream[0]!;
    expect(c.headers["x-asm-prefer-tag"]).toBe("gray");
    expect(c.headers.baggage).toBe("x-asm-prefer-tag=gray");
    const a = r.hop!;
    expect(a.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.headers["x-request-id"]).toBe(a.headers["x-request-id"]);
  });

  it("keeps a request without a label in prod everywhere", async () => {
    for (let i = 0; i < 5; i++) {
      const r = await get(`${gw}/`);
      expect(r.status, r.text).toBe(200);
      expect(path(r.hop!)).toEqual(["a=v1", "b=v1", "c=v1"]);
    }
  });

  it("lets a pod labelled ASM_TRAFFIC_TAG=gray start gray traffic by itself", async () => {
    const aGray = mesh.find("a", "gray");
    const r = await get(`http://127.0.0.1:${aGray.inbound}/`);
    expect(r.status, r.text).toBe(200);
    expect(path(r.hop!)).toEqual(["a=v2", "b=v1", "c=v2"]);
  });

  it("keeps lanes apart under concurrent mixed traffic", async () => {
    const reqs = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? { "x-asm-prefer-tag": "gray" } : {}));
    const results = await Promise.all(reqs.map((h) => get(`${gw}/`, h as Record<string, string>)));
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(path(r.hop!)).toEqual(i % 2 === 0 ? ["a=v2", "b=v1", "c=v2"] : ["a=v1", "b=v1", "c=v1"]);
    });
  });

  it("counts requests in /metrics per lane and per fallback reason", async () => {
    const gwAdmin = `127.0.0.1:${mesh.gatewayAdmin}`;
    const aGray = `127.0.0.1:${mesh.find("a", "gray").admin}`;
    const bProd = `127.0.0.1:${mesh.find("b", "prod").admin}`;
    const before = {
      gwGray: await metric(gwAdmin, "istio_requests_total", {
        lane: "gray",
        fallback: "none",
        response_code: "200",
      }),
      gwNone: await metric(gwAdmin, "istio_requests_total", {
        lane: "none",
        fallback: "noinstances",
        response_code: "200",
      }),
      aGrayToB: await metric(aGray, "istio_requests_total", {
        reporter: "source",
        lane: "gray",
        fallback: "noinstances",
      }),
      bProdIn: await metric(bProd, "istio_requests_total", { reporter: "destination", lane: "gray" }),
    };
    for (let i = 0; i < 10; i++)
      expect((await get(`${gw}/`, { "x-asm-prefer-tag": "gray" })).status).toBe(200);
    for (let i = 0; i < 7; i++) expect((await get(`${gw}/`)).status).toBe(200);
    expect(
      await metric(gwAdmin, "istio_requests_total", { lane: "gray", fallback: "none", response_code: "200" }),
    ).toBe(before.gwGray + 10);
    expect(
      await metric(gwAdmin, "istio_requests_total", {
        lane: "none",
        fallback: "noinstances",
        response_code: "200",
      }),
    ).toBe(before.gwNone + 7);
    expect(
      await metric(aGray, "istio_requests_total", {
        reporter: "source",
        lane: "gray",
        fallback: "noinstances",
      }),
    ).toBe(before.aGrayToB + 10);
    expect(await metric(bProd, "istio_requests_total", { reporter: "destination", lane: "gray" })).toBe(
      before.bProdIn + 10,
    );
  });
});
