/**
 * What the apps send on each hop, seen by the recording proxy in the sidecar's place: the
 * absolute-form request line to the proxy, the trace headers and `end-user` forwarded, and never
 * the lane header or baggage — carrying the lane is the sidecar's job, not the app's.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FORWARDED_HEADERS } from "../src/services/propagation.js";
import { type Fleet, get, startFleet } from "./support/bookinfo.js";

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet([
    ["ratings", "v2"],
    ["reviews", "v2"],
    ["reviews", "v1"],
    ["details", "v1"],
    ["productpage", "v1"],
  ]);
});

afterAll(async () => {
  await fleet?.close();
});

beforeEach(() => {
  fleet.calls.length = 0;
  fleet.use("reviews", "v2");
});

const TRACE = {
  "x-request-id": "7f0c2d9e-1b7a-4c43-9a55-3f1f9e1c0b11",
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  tracestate: "vendor=opaque",
  "x-b3-traceid": "4bf92f3577b34da6a3ce929d0e0e4736",
  "x-b3-spanid": "00f067aa0ba902b7",
  "x-b3-parentspanid": "a3ce929d0e0e4736",
  "x-b3-sampled": "1",
  "x-b3-flags": "0",
  b3: "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
};

const LANE_AND_FRIENDS = {
  "x-asm-prefer-tag": "gray",
  baggage: "x-asm-prefer-tag=gray,other=1",
  cookie: "user=alice; lane=gray",
  authorization: "Bearer secret",
  "x-custom": "nope",
};

describe("headers on every hop", () => {
  it("forwards x-request-id, trace headers and end-user; never x-asm-prefer-tag, baggage or anything else", async () => {
    const r = await get(`${fleet.url("productpage", "v1")}/productpage`, {
      ...TRACE,
      ...LANE_AND_FRIENDS,
      "end-user": "jason",
    });
    expect(r.status).toBe(200);
    // productpage → details, productpage → reviews, reviews → ratings
    expect(fleet.calls.map((c) => `${c.caller}→${c.service}`).sort()).toEqual([
      "productpage-v1→details",
      "productpage-v1→reviews",
      "reviews-v2→ratings",
    ]);
    for (const call of fleet.calls) {
      const where = `${call.caller}→${call.service}`;
      for (const [k, v] of Object.entries(TRACE)) expect(call.headers[k], `${where} ${k}`).toBe(v);
      expect(call.headers["end-user"], where).toBe("jason");
      expect(call.headers["x-asm-prefer-tag"], where).toBeUndefined();
      expect(call.headers.baggage, where).toBeUndefined();
      expect(call.headers.cookie, where).toBeUndefined();
      expect(call.headers.authorization, where).toBeUndefined();
      expect(call.headers["x-custom"], where).toBeUndefined();
      // Only the allow-list plus what HTTP itself needs.
      const allowed = new Set([...FORWARDED_HEADERS, "host", "accept", "connection"]);
      expect(
        Object.keys(call.headers).filter((h) => !allowed.has(h)),
        where,
      ).toEqual([]);
    }
  });

  it("sends absolute-form requests to HTTP_PROXY with Host = <service>:9080", async () => {
    await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`, { "x-request-id": "abs-form" });
    const byService = Object.fromEntries(fleet.calls.map((c) => [c.service, c]));
    expect(byService.details?.target).toBe("http://details:9080/details/0");
    expect(byService.details?.host).toBe("details:9080");
    expect(byService.reviews?.target).toBe("http://reviews:9080/reviews/0");
    expect(byService.reviews?.host).toBe("reviews:9080");
    expect(byService.ratings?.target).toBe("http://ratings:9080/ratings/0");
    expect(byService.ratings?.host).toBe("ratings:9080");
  });

  it("forwards the same x-request-id on every hop of a request, and different ones for different requests", async () => {
    await Promise.all([
      get(`${fleet.url("productpage", "v1")}/api/v1/lanes`, { "x-request-id": "req-a" }),
      get(`${fleet.url("productpage", "v1")}/api/v1/lanes`, { "x-request-id": "req-b" }),
    ]);
    const ids = fleet.calls.map((c) => c.headers["x-request-id"]);
    expect(ids.filter((i) => i === "req-a")).toHaveLength(3);
    expect(ids.filter((i) => i === "req-b")).toHaveLength(3);
  });

  it("turns the signed-in user (cookie user=jason) into end-user, without forwarding the cookie", async () => {
    await get(`${fleet.url("productpage", "v1")}/productpage`, { cookie: "lane=prod; user=jason" });
    expect(fleet.calls.length).toBeGreaterThan(0);
    for (const call of fleet.calls) {
      expect(call.headers["end-user"]).toBe("jason");
      expect(call.headers.cookie).toBeUndefined();
    }
  });

  it("sends no end-user when nobody is signed in, and generates no x-request-id of its own", async () => {
    fleet.use("reviews", "v1");
    await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`);
    expect(fleet.calls).toHaveLength(3);
    for (const call of fleet.calls) {
      expect(call.headers["end-user"]).toBeUndefined();
      expect(call.headers["x-request-id"]).toBeUndefined();
    }
  });
});
