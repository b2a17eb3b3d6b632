/**
 * A hop that fails (a sidecar answering 503 `no healthy upstream`, a proxy that is gone, a hop
 * that never answers) is shown on the page and in the JSON as `error:<what>`; the page itself
 * still renders with 200.
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Downstream } from "../src/services/downstream.js";
import { startService } from "../src/services/server.js";
import { type Fleet, get, startFleet } from "./support/bookinfo.js";

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet(
    [
      ["ratings", "v1"],
      ["reviews", "v2"],
      ["details", "v1"],
      ["productpage", "v1"],
    ],
    500,
  );
});

afterAll(async () => {
  await fleet?.close();
});

beforeEach(() => {
  fleet.use("details", "v1");
  fleet.use("reviews", "v2");
  fleet.use("ratings", "v1");
});

describe("a failing hop", () => {
  it("reviews answered 503 by the sidecar: lanes say error:503, ratings unknown; the page explains it", async () => {
    fleet.routes.set("reviews", { status: 503, flag: "UH" });
    const lanes = await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`);
    expect(lanes.status).toBe(200);
    expect(JSON.parse(lanes.text)).toEqual({
      productpage: "v1",
      details: "v1",
      reviews: "error:503",
      ratings: null,
    });
    const page = await get(`${fleet.url("productpage", "v1")}/productpage`);
    expect(page.status).toBe(200);
    expect(page.text).toContain("Sorry, product reviews are currently unavailable for this book.");
    expect(page.text).toContain("reviews:9080 answered 503 (UH): no healthy upstream");
    expect(page.text).toContain('<tr data-hop="reviews" data-version="error:503" data-lane="error">');
    expect(page.text).toContain("PublisherA");
  });

  it("ratings answered 503: reviews still answers, each review says ratings are unavailable", async () => {
    fleet.routes.set("ratings", { status: 503 });
    const lanes = await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`);
    expect(JSON.parse(lanes.text)).toEqual({
      productpage: "v1",
      details: "v1",
      reviews: "v2",
      ratings: "error:503",
    });
    const page = await get(`${fleet.url("productpage", "v1")}/productpage`);
    expect(page.text.match(/Ratings service is currently unavailable/g)).toHaveLength(2);
    expect(page.text).toContain("An extremely entertaining play by Shakespeare");
    const api = await get(`${fleet.url("productpage", "v1")}/api/v1/products/0`);
    expect(JSON.parse(api.text).reviews[0].rating).toEqual({
      error: "Ratings service is currently unavailable",
    });
  });

  it("details answered 404 (no route): shown as error:404", async () => {
    fleet.routes.set("details", { status: 404, flag: "NR", body: "no route" });
    const lanes = await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`);
    expect(JSON.parse(lanes.text)).toMatchObject({ details: "error:404", reviews: "v2" });
    const page = await get(`${fleet.url("productpage", "v1")}/productpage`);
    expect(page.text).toContain("Sorry, product details are currently unavailable for this book.");
    const api = await get(`${fleet.url("productpage", "v1")}/api/v1/products/0`);
    expect(JSON.parse(api.text).details).toMatchObject({ error: "error:404" });
  });

  it("a hop that never answers times out: error:timeout", async () => {
    fleet.routes.set("reviews", { hang: true });
    const started = Date.now();
    const lanes = await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(JSON.parse(lanes.text)).toEqual({
      productpage: "v1",
      details: "v1",
      reviews: "error:timeout",
      ratings: null,
    });
  });

  it("a hop answering 200 with a body that is not JSON: error:bad-response", async () => {
    fleet.routes.set("details", { status: 200, body: "<html>oops</html>" });
    const lanes = await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`);
    expect(JSON.parse(lanes.text)).toMatchObject({ details: "error:bad-response" });
  });

  it("HTTP_PROXY pointing at nothing: every hop is error:unreachable, the page still renders", async () => {
    const dead = await startService({
      service: "details",
      version: "v1",
      port: 0,
      bind: "127.0.0.1",
      proxy: undefined,
      timeoutMs: 500,
    });
    const deadPort = dead.port;
    await dead.close();
    const pp = await startService({
      service: "productpage",
      version: "v2",
      port: 0,
      bind: "127.0.0.1",
      proxy: new URL(`http://127.0.0.1:${deadPort}`),
      timeoutMs: 500,
    });
    try {
      const lanes = await get(`${pp.url}/api/v1/lanes`);
      expect(JSON.parse(lanes.text)).toEqual({
        productpage: "v2",
        details: "error:unreachable",
        reviews: "error:unreachable",
        ratings: null,
      });
      const page = await get(`${pp.url}/productpage`);
      expect(page.status).toBe(200);
      expect(page.text).toContain("ECONNREFUSED");
    } finally {
      await pp.close();
    }
  });

  it("a kept-alive connection the proxy dropped is retried once on a new one, not shown as an error", async () => {
    const requestsOn = new WeakMap<Socket, number>();
    let connections = 0;
    const proxy: Server = createServer((req, res) => {
      const n = (requestsOn.get(req.socket) ?? 0) + 1;
      requestsOn.set(req.socket, n);
      if (n === 2) {
        req.socket.destroy(); // the proxy closed the idle connection as it was reused
        return;
      }
      const body = JSON.stringify({ id: 0, served_by: "details-v1", versions: { details: "v1" } });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    proxy.on("connection", () => connections++);
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
    const d = new Downstream({
      proxy: new URL(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`),
      timeoutMs: 2000,
    });
    try {
      expect((await d.getJson("details", "/details/0", {})).ok).toBe(true);
      const second = await d.getJson("details", "/details/0", {});
      expect(second).toMatchObject({ ok: true, body: { served_by: "details-v1" } });
      expect(connections).toBe(2);
    } finally {
      d.close();
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});
