/**
 * Acceptance: Istio's Bookinfo tasks (request routing, traffic shifting) on the fixtures in
 * test/fixtures/bookinfo: services.yaml + destination-rules.yaml + one of tasks/*.yaml. Each row is
 * an outbound call from a Bookinfo pod, explained as `lanecar explain` would.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type ConfigSnapshot, explain, formatDiagnostic, loadSnapshot } from "../../src/index.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/bookinfo/", import.meta.url));
const TASKS = ["all-v1", "jason-v2", "50-v3", "80-20", "all-v3"] as const;
type Task = (typeof TASKS)[number];

const snapshots = new Map<Task, ConfigSnapshot>();
function bookinfo(task: Task): ConfigSnapshot {
  let s = snapshots.get(task);
  if (!s) {
    const r = loadSnapshot([
      `${FIXTURES}services.yaml`,
      `${FIXTURES}destination-rules.yaml`,
      `${FIXTURES}tasks/${task}.yaml`,
    ]);
    if (!r.snapshot) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
    s = r.snapshot;
    snapshots.set(task, s);
  }
  return s;
}

/** Pods of the sample, as their Deployments label them. */
const POD = {
  productpage: { app: "productpage", version: "v1" },
  reviewsV2: { app: "reviews", version: "v2" },
  reviewsV3: { app: "reviews", version: "v3" },
} as const;

/** Instance ports of the fixture (WorkloadEntries). */
const PORT = {
  productpage: 19081,
  details: 19082,
  reviewsV1: 19083,
  reviewsV2: 19084,
  reviewsV3: 19085,
  ratingsV1: 19086,
};

interface Row {
  description: string;
  task: Task;
  pod: Readonly<Record<string, string>>;
  /** Outbound request line and headers the app sent. */
  request: string;
  headers?: Record<string, string>;
  expected: { rule: string | null; subset: string | undefined; ports: number[]; fallback: null };
}

const ROWS: Row[] = [
  // Request routing, step 1: every service to v1.
  ...(["productpage", "reviews", "ratings", "details"] as const).map(
    (svc): Row => ({
      description: `all-v1: ${svc} goes to v1`,
      task: "all-v1",
      pod: POD.productpage,
      request: `GET http://${svc}:9080/`,
      expected: {
        rule: `${svc}/0`,
        subset: "v1",
        ports: [
          {
            productpage: PORT.productpage,
            reviews: PORT.reviewsV1,
            ratings: PORT.ratingsV1,
            details: PORT.details,
          }[svc],
        ],
        fallback: null,
      },
    }),
  ),
  {
    description: "all-v1: jason still sees v1",
    task: "all-v1",
    pod: POD.productpage,
    request: "GET http://reviews:9080/reviews/0",
    headers: { "end-user": "jason" },
    expected: { rule: "reviews/0", subset: "v1", ports: [PORT.reviewsV1], fallback: null },
  },
  {
    description: "all-v1: reviews-v2 calling ratings gets ratings v1",
    task: "all-v1",
    pod: POD.reviewsV2,
    request: "GET http://ratings:9080/ratings/0",
    expected: { rule: "ratings/0", subset: "v1", ports: [PORT.ratingsV1], fallback: null },
  },
  // Request routing, step 2: end-user jason → reviews v2, everyone else v1.
  {
    description: "jason-v2: end-user jason goes to reviews v2",
    task: "jason-v2",
    pod: POD.productpage,
    request: "GET http://reviews:9080/reviews/0",
    headers: { "end-user": "jason" },
    expected: { rule: "reviews/0", subset: "v2", ports: [PORT.reviewsV2], fallback: null },
  },
  {
    description: "jason-v2: header names are case-insensitive",
    task: "jason-v2",
    pod: POD.productpage,
    request: "GET http://reviews.default.svc.cluster.local:9080/reviews/0",
    headers: { "End-User": "jason" },
    expected: { rule: "reviews/0", subset: "v2", ports: [PORT.reviewsV2], fallback: null },
  },
  ...["alice", "Jason", "jason2", ""].map(
    (user): Row => ({
      description: `jason-v2: end-user ${JSON.stringify(user)} goes to reviews v1`,
      task: "jason-v2",
      pod: POD.productpage,
      request: "GET http://reviews:9080/reviews/0",
      headers: { "end-user": user },
      expected: { rule: "reviews/1", subset: "v1", ports: [PORT.reviewsV1], fallback: null },
    }),
  ),
  {
    description: "jason-v2: no end-user (not logged in) goes to reviews v1",
    task: "jason-v2",
    pod: POD.productpage,
    request: "GET http://reviews:9080/reviews/0",
    expected: { rule: "reviews/1", subset: "v1", ports: [PORT.reviewsV1], fallback: null },
  },
  {
    description: "jason-v2: details has no VirtualService in this task: all its endpoints",
    task: "jason-v2",
    pod: POD.productpage,
    request: "GET http://details:9080/details/0",
    headers: { "end-user": "jason" },
    expected: { rule: null, subset: undefined, ports: [PORT.details], fallback: null },
  },
  {
    description: "jason-v2: ratings has no VirtualService: its only instance",
    task: "jason-v2",
    pod: POD.reviewsV2,
    request: "GET http://ratings:9080/ratings/0",
    expected: { rule: null, subset: undefined, ports: [PORT.ratingsV1], fallback: null },
  },
  // Traffic shifting, last step.
  {
    description: "all-v3: all of reviews goes to v3",
    task: "all-v3",
    pod: POD.productpage,
    request: "GET http://reviews:9080/reviews/0",
    headers: { "end-user": "jason" },
    expected: { rule: "reviews/0", subset: "v3", ports: [PORT.reviewsV3], fallback: null },
  },
  {
    description: "all-v3: from reviews-v3 itself",
    task: "all-v3",
    pod: POD.reviewsV3,
    request: "GET http://reviews:9080/",
    expected: { rule: "reviews/0", subset: "v3", ports: [PORT.reviewsV3], fallback: null },
  },
];

describe("Bookinfo tasks", () => {
  it("each task validates cleanly, without even a warning", () => {
    for (const t of TASKS) expect(bookinfo(t).warnings.map(formatDiagnostic)).toEqual([]);
  });

  it.each(ROWS.map((r) => [r.description, r] as const))("%s", (_d, row) => {
    const e = explain(bookinfo(row.task), {
      request: row.request,
      headers: row.headers ?? {},
      podLabels: row.pod,
    });
    expect(e.action).toBe("route");
    expect(e.status).toBeNull();
    expect(e.flag).toBeNull();
    expect(e.rule).toBe(row.expected.rule);
    expect(e.destination?.subset).toBe(row.expected.subset);
    expect(e.endpoints.filter((p) => p.available).map((p) => p.port)).toEqual(row.expected.ports);
    expect(e.fallback).toBe(row.expected.fallback);
  });

  it("an unknown host is 404 NR", () => {
    const e = explain(bookinfo("all-v1"), {
      request: "GET http://reviewz:9080/",
      podLabels: POD.productpage,
    });
    expect(e).toMatchObject({ action: "noroute", status: 404, flag: "NR" });
  });
});

/**
 * Traffic shifting with Math.random (not seeded), 100 requests per batch as in the Istio task.
 * One batch of a fair 50/50 split leaves ±10 about 3.5% of the time by pure chance, so the ±10
 * bound is checked on the mean of 10 batches (standard error 1.6 requests), and every single
 * batch must stay within ±25 (a 5-sigma band): a wrong weight table fails both, luck fails neither.
 */
describe("Bookinfo traffic shifting (unseeded, 100-request batches)", () => {
  const SHIFTS: { task: Task; weights: Record<string, number> }[] = [
    { task: "50-v3", weights: { v1: 50, v3: 50 } },
    { task: "80-20", weights: { v1: 80, v2: 20 } },
  ];

  it.each(SHIFTS.map((s) => [s.task, s] as const))("%s", (_t, { task, weights }) => {
    const s = bookinfo(task);
    const BATCHES = 10;
    const perBatch: Record<string, number>[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const counts: Record<string, number> = {};
      for (let i = 0; i < 100; i++) {
        const e = explain(s, { request: "GET http://reviews:9080/reviews/0", podLabels: POD.productpage });
        const sub = e.destination!.subset!;
        counts[sub] = (counts[sub] ?? 0) + 1;
        // The chosen subset's instance is the one that serves.
        const port = { v1: PORT.reviewsV1, v2: PORT.reviewsV2, v3: PORT.reviewsV3 }[
          sub as "v1" | "v2" | "v3"
        ];
        expect(e.endpoints.map((p) => p.port)).toEqual([port]);
      }
      perBatch.push(counts);
    }
    for (const counts of perBatch) {
      expect(Object.keys(counts).every((k) => k in weights)).toBe(true);
      for (const [sub, w] of Object.entries(weights)) {
        const n = counts[sub] ?? 0;
        expect(Math.abs(n - w), `batch ${JSON.stringify(counts)}`).toBeLessThanOrEqual(25);
      }
    }
    for (const [sub, w] of Object.entries(weights)) {
      const mean = perBatch.reduce((acc, c) => acc + (c[sub] ?? 0), 0) / BATCHES;
      expect(Math.abs(mean - w), `${sub}: mean ${mean} per 100, expected ${w}`).toBeLessThanOrEqual(10);
    }
  });
});
