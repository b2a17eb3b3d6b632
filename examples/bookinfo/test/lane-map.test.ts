/**
 * The apps alone (no Lanecar): for each combination of versions the test proxy sends a hop to,
 * productpage's /api/v1/lanes and its HTML say which version served each hop.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fleet, get, startFleet } from "./support/bookinfo.js";

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet([
    ["ratings", "v1"],
    ["ratings", "v2"],
    ["reviews", "v1"],
    ["reviews", "v2"],
    ["reviews", "v3"],
    ["details", "v1"],
    ["productpage", "v1"],
    ["productpage", "v2"],
  ]);
});

afterAll(async () => {
  await fleet?.close();
});

/** Rows of the "which version served each hop" table: hop → [version, lane]. */
function hopRows(html: string): Record<string, [string, string]> {
  const rows: Record<string, [string, string]> = {};
  for (const m of html.matchAll(/<tr data-hop="([a-z]+)" data-version="([^"]*)" data-lane="([^"]*)">/g))
    rows[m[1]!] = [m[2]!, m[3]!];
  return rows;
}

function stars(html: string): { n: number; color: string }[] {
  return [...html.matchAll(/class="stars" data-stars="(\d)" data-color="(\w+)"/g)].map((m) => ({
    n: Number(m[1]),
    color: m[2]!,
  }));
}

describe("productpage lane map", () => {
  const cases = [
    {
      pp: "v1",
      reviews: "v1",
      ratings: "v1",
      want: { productpage: "v1", details: "v1", reviews: "v1", ratings: "v1" },
    },
    {
      pp: "v1",
      reviews: "v2",
      ratings: "v1",
      want: { productpage: "v1", details: "v1", reviews: "v2", ratings: "v1" },
    },
    {
      pp: "v2",
      reviews: "v2",
      ratings: "v2",
      want: { productpage: "v2", details: "v1", reviews: "v2", ratings: "v2" },
    },
    {
      pp: "v1",
      reviews: "v3",
      ratings: "v2",
      want: { productpage: "v1", details: "v1", reviews: "v3", ratings: "v2" },
    },
  ] as const;

  for (const c of cases) {
    it(`productpage ${c.pp} → reviews ${c.reviews} → ratings ${c.ratings}`, async () => {
      fleet.use("reviews", c.reviews);
      fleet.use("ratings", c.ratings);
      const r = await get(`${fleet.url("productpage", c.pp)}/api/v1/lanes`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/application\/json/);
      expect(JSON.parse(r.text)).toEqual(c.want);
    });
  }

  it("reviews v1 calls ratings too (so a prod reviews hop hands the request on), but shows no stars", async () => {
    fleet.use("reviews", "v1");
    fleet.use("ratings", "v2");
    const before = fleet.calls.filter((c) => c.service === "ratings").length;
    const r = await get(`${fleet.url("productpage", "v1")}/api/v1/lanes`);
    expect(fleet.calls.filter((c) => c.service === "ratings").length).toBe(before + 1);
    expect(JSON.parse(r.text)).toMatchObject({ reviews: "v1", ratings: "v2" });
    const page = await get(`${fleet.url("productpage", "v1")}/productpage`);
    expect(stars(page.text)).toEqual([]);
  });
});

describe("the product page (HTML)", () => {
  it("prod: productpage v1, reviews v1 — no stars, every hop in prod", async () => {
    fleet.use("reviews", "v1");
    fleet.use("ratings", "v1");
    const r = await get(`${fleet.url("productpage", "v1")}/productpage`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/text\/html/);
    expect(r.text).toContain("The Comedy of Errors");
    expect(r.text).toContain("William Shakespeare");
    expect(r.text).toContain("PublisherA");
    expect(r.text).toContain("An extremely entertaining play by Shakespeare");
    expect(stars(r.text)).toEqual([]);
    expect(r.text).not.toContain('id="banner"');
    expect(hopRows(r.text)).toEqual({
      productpage: ["v1", "prod"],
      details: ["v1", "prod"],
      reviews: ["v1", "prod"],
      ratings: ["v1", "prod"],
    });
  });

  it("gray: productpage v2, reviews v2, ratings v2 — the gray banner and black stars (1 and 2)", async () => {
    fleet.use("reviews", "v2");
    fleet.use("ratings", "v2");
    const r = await get(`${fleet.url("productpage", "v2")}/productpage`);
    expect(r.status).toBe(200);
    expect(r.text).toContain('id="banner"');
    expect(r.text).toContain('data-productpage-version="v2"');
    expect(stars(r.text)).toEqual([
      { n: 1, color: "black" },
      { n: 2, color: "black" },
    ]);
    expect(hopRows(r.text)).toEqual({
      productpage: ["v2", "gray"],
      details: ["v1", "prod"],
      reviews: ["v2", "gray"],
      ratings: ["v2", "gray"],
    });
  });

  it("dev: reviews v3 shows red stars; ratings v1 gives 5 and 4", async () => {
    fleet.use("reviews", "v3");
    fleet.use("ratings", "v1");
    const r = await get(`${fleet.url("productpage", "v1")}/productpage`);
    expect(stars(r.text)).toEqual([
      { n: 5, color: "red" },
      { n: 4, color: "red" },
    ]);
    expect(hopRows(r.text).reviews).toEqual(["v3", "dev"]);
    expect(hopRows(r.text).ratings).toEqual(["v1", "prod"]);
  });

  it("shows the request id and the lane label the request arrived with, escaped", async () => {
    fleet.use("reviews", "v1");
    const r = await get(`${fleet.url("productpage", "v1")}/productpage`, {
      "x-request-id": "req-<42>",
      "x-asm-prefer-tag": "gray",
    });
    expect(r.text).toContain("req-&lt;42&gt;");
    expect(r.text).not.toContain("req-<42>");
    expect(r.text).toContain("x-asm-prefer-tag: gray");
    // Hops served outside the requested lane are pointed out as fallbacks.
    expect(r.text).toContain("fallback: no available reviews in lane gray");
    expect(r.text).toContain("fallback: no available productpage in lane gray");
  });
});

describe("the JSON API", () => {
  it("/api/v1/products lists the book; /api/v1/products/0 has details, reviews and versions", async () => {
    fleet.use("reviews", "v2");
    fleet.use("ratings", "v1");
    const list = await get(`${fleet.url("productpage", "v1")}/api/v1/products`);
    expect(JSON.parse(list.text)).toEqual([
      expect.objectContaining({ id: 0, title: "The Comedy of Errors" }),
    ]);
    const r = await get(`${fleet.url("productpage", "v1")}/api/v1/products/0`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text);
    expect(body.details).toMatchObject({
      author: "William Shakespeare",
      "ISBN-10": "1234567890",
      served_by: "details-v1",
    });
    expect(body.reviews).toHaveLength(2);
    expect(body.reviews[0].rating).toEqual({ stars: 5, color: "black" });
    expect(body.versions).toEqual({ productpage: "v1", details: "v1", reviews: "v2", ratings: "v1" });
    expect(body.served_by).toBe("productpage-v1");
    const reviews = await get(`${fleet.url("productpage", "v1")}/api/v1/products/0/reviews`);
    expect(JSON.parse(reviews.text)).toMatchObject({
      id: 0,
      served_by: "reviews-v2",
      versions: { reviews: "v2", ratings: "v1" },
    });
  });

  it("an unknown product is 404; a bad id on a backend is 400", async () => {
    expect((await get(`${fleet.url("productpage", "v1")}/api/v1/products/7`)).status).toBe(404);
    expect((await get(`${fleet.url("productpage", "v1")}/api/v1/products/x`)).status).toBe(404);
    expect((await get(`${fleet.url("details", "v1")}/details/abc`)).status).toBe(400);
    expect((await get(`${fleet.url("reviews", "v2")}/reviews/-1`)).status).toBe(400);
    expect((await get(`${fleet.url("ratings", "v1")}/nothing`)).status).toBe(404);
  });

  it("every service answers /health with 200 and says which version it is", async () => {
    for (const [name, app] of fleet.apps) {
      const r = await get(`${app.url}/health`);
      expect(r.status, name).toBe(200);
      expect(r.headers.get("x-bookinfo-served-by")).toBe(name);
      expect(JSON.parse(r.text)).toMatchObject({ status: "ok" });
    }
  });

  it("the backends report their own version in body and header", async () => {
    const ratings = await get(`${fleet.url("ratings", "v2")}/ratings/0`);
    expect(JSON.parse(ratings.text)).toEqual({
      id: 0,
      ratings: { Reviewer1: 1, Reviewer2: 2 },
      served_by: "ratings-v2",
      versions: { ratings: "v2" },
    });
    expect(ratings.headers.get("x-bookinfo-served-by")).toBe("ratings-v2");
    const details = await get(`${fleet.url("details", "v1")}/details/3`);
    expect(JSON.parse(details.text)).toMatchObject({ id: 3, versions: { details: "v1" } });
  });
});

describe("sign in", () => {
  it("POST /login sets the user cookie; GET /logout clears it", async () => {
    const pp = fleet.url("productpage", "v1");
    const r = await fetch(`${pp}/login`, {
      method: "POST",
      body: "username=jason",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      redirect: "manual",
    });
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe("/productpage");
    expect(r.headers.get("set-cookie")).toMatch(/^user=jason; Path=\//);
    const page = await get(`${pp}/productpage`, { cookie: "user=jason" });
    expect(page.text).toContain("Signed in as <b>jason</b>");
    const out = await get(`${pp}/logout`);
    expect(out.status).toBe(302);
    expect(out.headers.get("set-cookie")).toMatch(/^user=; .*Max-Age=0/);
  });

  it("rejects a user name that could not be a header value", async () => {
    const r = await fetch(`${fleet.url("productpage", "v1")}/login`, {
      method: "POST",
      body: "username=a%0d%0ab",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(r.status).toBe(400);
  });
});
