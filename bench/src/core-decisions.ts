/**
 * Micro-benchmark of the @lanecar/core decision path, no sockets: what the proxy does per request
 * between parsing the head and dispatching upstream.
 *
 *   node bench/dist/core-decisions.js [--batches 5] [--batch-ms 1000] [--warmup-ms 1000] [--case name,...]
 *
 * Cases use the config fixtures of packages/core/test/fixtures (read at start):
 * - asm-*: the ASM full-link gray walkthrough (TrafficLabel `$getContext(x-request-id)` then
 *   `$(localLabel)`, `$trafficLabel` subsets, fallback to prod), as an outbound call from a prod
 *   productpage pod. "full" = label resolution (with a Map-based correlation lookup) + route
 *   decision + endpoint pick, which is all the core work of one proxied request.
 * - bookinfo-*: Istio's request-routing (jason → v2) and traffic-shifting (80/20) tasks.
 *
 * Each case warms up, then runs several timed batches; the median decisions/s is reported as a
 * table and written to bench/results/core-decisions.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import {
  ALL_AVAILABLE,
  buildSnapshot,
  type ConfigSnapshot,
  type ConfigText,
  type CorrelationRecord,
  formatDiagnostic,
  type HeaderGetter,
  type LabelResolver,
  type RouteContext,
  type RouteRequest,
} from "@lanecar/core";
import { REPO_ROOT, RESULTS_DIR } from "./paths.js";

const FIXTURES = join(REPO_ROOT, "packages", "core", "test", "fixtures");

function texts(...rel: string[]): ConfigText[] {
  return rel.map((r) => ({ file: r, text: readFileSync(join(FIXTURES, r), "utf8") }));
}

function snapshotOf(name: string, t: ConfigText[]): ConfigSnapshot {
  const { snapshot, diagnostics } = buildSnapshot(t);
  if (!snapshot)
    throw new Error(`${name}: fixture config is invalid:\n${diagnostics.map(formatDiagnostic).join("\n")}`);
  return snapshot;
}

/** Header lookup over a raw name/value array, as the proxy reads Node's `rawHeaders`. */
function rawHeaderGetter(raw: readonly string[]): HeaderGetter {
  return (name) => {
    let out: string | undefined;
    const n = name.length;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      if (k.length === n && (k === name || k.toLowerCase() === name))
        out = out === undefined ? raw[i + 1] : `${out}, ${raw[i + 1]}`;
    }
    return out;
  };
}

/** The headers a typical app call carries (the traced Bookinfo productpage → reviews call). */
function rawHeaders(host: string, requestId: string, extra: string[] = []): string[] {
  return [
    "Host",
    host,
    "User-Agent",
    "python-requests/2.31.0",
    "Accept-Encoding",
    "gzip, deflate",
    "Accept",
    "*/*",
    "Connection",
    "keep-alive",
    "x-request-id",
    requestId,
    "traceparent",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ...extra,
  ];
}

interface Case {
  name: string;
  what: string;
  /** One decision; returns something derived from it so nothing is optimised away. */
  run(i: number): number;
  /** What one decision should produce, checked once before timing. */
  expect: string;
  describe(i: number): string;
}

const POOL = 1024;

function asmCases(): Case[] {
  const snap = snapshotOf("asm", texts("asm/lanes.yaml", "asm/services.yaml"));
  const podLabels = { app: "productpage", version: "v1", ASM_TRAFFIC_TAG: "prod" };
  const ctx: RouteContext = { gateway: "mesh", namespace: "default", podLabels };
  const router = snap.router("mesh");
  const resolver: LabelResolver = snap.labelResolver("default", podLabels);
  const labelName = resolver.labels[0]?.name ?? "trafficLabel";

  // The correlation store as the proxy keeps it, reduced to a Map: x-request-id → inbound record.
  const store = new Map<string, CorrelationRecord>();
  const ids: string[] = [];
  for (let i = 0; i < POOL; i++) {
    const id = `0b7f3c1e-8a2d-4c5b-9e6f-${String(100000000000 + i)}`;
    ids.push(id);
    store.set(id, { headers: {}, labels: { [labelName]: "gray" } });
  }
  const lookup = (_ctx: string, key: string) => store.get(key);
  const missIds = ids.map((id) => `${id}-miss`);

  const reqs = (host: string, pool: readonly string[]) =>
    pool.map((id) => {
      const raw = rawHeaders(host, id);
      return { raw, header: rawHeaderGetter(raw) };
    });
  const reviewsHit = reqs("reviews:9080", ids);
  const reviewsMiss = reqs("reviews:9080", missIds);
  const detailsHit = reqs("details:9080", ids);

  /** Label resolution → route decision → endpoint pick, as the outbound listener does it. */
  const full = (pool: { raw: string[] }[], authority: string, path: string) => (i: number) => {
    const { raw } = pool[i & (POOL - 1)]!;
    const header = rawHeaderGetter(raw);
    const resolved = resolver.resolve("outbound", header, podLabels, lookup);
    const req: RouteRequest = { method: "GET", path, authority, scheme: "http", port: 9080, header };
    const d = router.route(req, ctx, resolved.values, ALL_AVAILABLE);
    const ep = d.cluster?.pick(ALL_AVAILABLE);
    return ep ? ep.port : -1;
  };

  const grayLabels = { [labelName]: "gray" };
  const routeOnly = (i: number) => {
    const { header } = reviewsHit[i & (POOL - 1)]!;
    const req: RouteRequest = {
      method: "GET",
      path: "/reviews/0",
      authority: "reviews:9080",
      scheme: "http",
      port: 9080,
      header,
    };
    const d = router.route(req, ctx, grayLabels, ALL_AVAILABLE);
    return d.cluster ? d.cluster.endpoints.length : -1;
  };
  const labelsOnly = (i: number) => {
    const { raw } = reviewsHit[i & (POOL - 1)]!;
    const r = resolver.resolve("outbound", rawHeaderGetter(raw), podLabels, lookup);
    return r.values[labelName]!.length;
  };

  const describeFull = (pool: { header: HeaderGetter }[], authority: string, path: string) => (i: number) => {
    const header = pool[i & (POOL - 1)]!.header;
    const resolved = resolver.resolve("outbound", header, podLabels, lookup);
    const d = router.route(
      { method: "GET", path, authority, scheme: "http", port: 9080, header },
      ctx,
      resolved.values,
      ALL_AVAILABLE,
    );
    const ep = d.cluster?.pick(ALL_AVAILABLE);
    const fb = d.fallback ? ` fallback ${d.fallback.reason}→${d.fallback.to.subset}` : "";
    return `${labelName}=${resolved.values[labelName]} ${d.destination?.host} subset ${d.destination?.subset}${fb} → ${ep?.key}`;
  };

  return [
    {
      name: "asm-lane-full",
      what: "labels ($getContext hit) + route + pick: reviews, gray lane",
      run: full(reviewsHit, "reviews:9080", "/reviews/0"),
      expect: `${labelName}=gray reviews.default.svc.cluster.local subset gray → 127.0.0.1:19105`,
      describe: describeFull(reviewsHit, "reviews:9080", "/reviews/0"),
    },
    {
      name: "asm-lane-fallback",
      what: "labels ($getContext hit) + route + fallback + pick: details has no gray",
      run: full(detailsHit, "details:9080", "/details/0"),
      expect: `${labelName}=gray details.default.svc.cluster.local subset gray fallback noinstances→prod → 127.0.0.1:19103`,
      describe: describeFull(detailsHit, "details:9080", "/details/0"),
    },
    {
      name: "asm-lane-miss",
      what: "labels ($getContext miss → $(localLabel)) + route + pick: prod lane",
      run: full(reviewsMiss, "reviews:9080", "/reviews/0"),
      expect: `${labelName}=prod reviews.default.svc.cluster.local subset prod → 127.0.0.1:19104`,
      describe: describeFull(reviewsMiss, "reviews:9080", "/reviews/0"),
    },
    {
      name: "asm-route-only",
      what: "route decision only (labels given): reviews subset $label",
      run: routeOnly,
      expect: "reviews.default.svc.cluster.local subset gray",
      describe: (i) => {
        const { header } = reviewsHit[i & (POOL - 1)]!;
        const d = router.route(
          {
            method: "GET",
            path: "/reviews/0",
            authority: "reviews:9080",
            scheme: "http",
            port: 9080,
            header,
          },
          ctx,
          grayLabels,
          ALL_AVAILABLE,
        );
        return `${d.destination?.host} subset ${d.destination?.subset}`;
      },
    },
    {
      name: "asm-labels-only",
      what: "label resolution only ($getContext hit)",
      run: labelsOnly,
      expect: `${labelName}=gray`,
      describe: (i) => {
        const { header } = reviewsHit[i & (POOL - 1)]!;
        return `${labelName}=${resolver.resolve("outbound", header, podLabels, lookup).values[labelName]}`;
      },
    },
  ];
}

function bookinfoCases(): Case[] {
  const base = ["bookinfo/services.yaml", "bookinfo/destination-rules.yaml"];
  const jason = snapshotOf("jason", texts(...base, "bookinfo/tasks/jason-v2.yaml"));
  const shift = snapshotOf("80-20", texts(...base, "bookinfo/tasks/80-20.yaml"));
  const podLabels = { app: "productpage", version: "v1" };
  const ctx: RouteContext = { gateway: "mesh", namespace: "default", podLabels };
  const jasonRouter = jason.router("mesh");
  const shiftRouter = shift.router("mesh");
  const noLabels = {};

  const make = (user: string) =>
    Array.from({ length: POOL }, (_, i) =>
      rawHeaders("reviews:9080", `id-${i}`, ["end-user", i % 2 === 0 ? user : "alice"]),
    );
  const jasonRaw = make("jason");
  const plainRaw = Array.from({ length: POOL }, (_, i) => rawHeaders("reviews:9080", `id-${i}`));

  const decide = (router: typeof jasonRouter, pool: string[][]) => (i: number) => {
    const header = rawHeaderGetter(pool[i & (POOL - 1)]!);
    const req: RouteRequest = {
      method: "GET",
      path: "/reviews/0",
      authority: "reviews:9080",
      scheme: "http",
      port: 9080,
      header,
    };
    const d = router.route(req, ctx, noLabels, ALL_AVAILABLE);
    const ep = d.cluster?.pick(ALL_AVAILABLE);
    return ep ? ep.port : -1;
  };
  const describe = (router: typeof jasonRouter, pool: string[][]) => (i: number) => {
    const header = rawHeaderGetter(pool[i & (POOL - 1)]!);
    const d = router.route(
      { method: "GET", path: "/reviews/0", authority: "reviews:9080", scheme: "http", port: 9080, header },
      ctx,
      noLabels,
      ALL_AVAILABLE,
    );
    return `${d.rule} subset ${d.destination?.subset} → ${d.cluster?.pick(ALL_AVAILABLE)?.key}`;
  };

  return [
    {
      name: "bookinfo-jason",
      what: "header match end-user=jason (half the requests) + pick: reviews v2 / v1",
      run: decide(jasonRouter, jasonRaw),
      expect: "reviews/0 subset v2 → 127.0.0.1:19084",
      describe: describe(jasonRouter, jasonRaw),
    },
    {
      name: "bookinfo-weighted",
      what: "80/20 weighted destinations + pick: reviews v1 / v2",
      run: decide(shiftRouter, plainRaw),
      expect: "reviews/0 subset v",
      describe: describe(shiftRouter, plainRaw),
    },
  ];
}

export interface CaseResult {
  name: string;
  what: string;
  medianPerSec: number;
  minPerSec: number;
  maxPerSec: number;
  nsPerDecision: number;
  batches: number[];
}

/** Runs `fn` until `ms` elapsed; returns iterations per second. */
function timeBatch(fn: (i: number) => number, ms: number, sink: { v: number }): number {
  const CHUNK = 4096;
  let n = 0;
  let acc = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < CHUNK; i++) acc += fn(n + i);
    n += CHUNK;
    t = performance.now();
  }
  sink.v += acc;
  return (n * 1000) / (t - t0);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

export function runCoreDecisions(argv: string[] = process.argv.slice(2)): CaseResult[] {
  const batches = Number(arg(argv, "batches") ?? 5);
  const batchMs = Number(arg(argv, "batch-ms") ?? 1000);
  const warmupMs = Number(arg(argv, "warmup-ms") ?? 1000);
  const only = arg(argv, "case")?.split(",");
  const cases = [...asmCases(), ...bookinfoCases()].filter((c) => !only || only.includes(c.name));

  // Correctness first: a fast wrong decision is worth nothing.
  for (const c of cases) {
    const got = c.describe(0);
    if (!got.startsWith(c.expect)) throw new Error(`${c.name}: expected "${c.expect}", got "${got}"`);
  }

  const sink = { v: 0 };
  const results: CaseResult[] = [];
  for (const c of cases) {
    timeBatch(c.run, warmupMs, sink);
    const rates: number[] = [];
    for (let b = 0; b < batches; b++) rates.push(timeBatch(c.run, batchMs, sink));
    const med = median(rates);
    results.push({
      name: c.name,
      what: c.what,
      medianPerSec: Math.round(med),
      minPerSec: Math.round(Math.min(...rates)),
      maxPerSec: Math.round(Math.max(...rates)),
      nsPerDecision: Math.round(1e9 / med),
      batches: rates.map(Math.round),
    });
    process.stdout.write(`  ${c.name.padEnd(20)} ${fmt(med).padStart(12)}/s  (${c.describe(1)})\n`);
  }
  if (sink.v === 0.5) process.stdout.write("\n");

  const table = [
    "",
    "| case | decisions/s (median) | ns/decision | min–max /s | what |",
    "| --- | ---: | ---: | --- | --- |",
    ...results.map(
      (r) =>
        `| ${r.name} | ${fmt(r.medianPerSec)} | ${r.nsPerDecision} | ${fmt(r.minPerSec)}–${fmt(r.maxPerSec)} | ${r.what} |`,
    ),
    "",
  ].join("\n");
  process.stdout.write(`${table}\n`);
  const target = 1_000_000;
  const routeOnly = results.find((r) => r.name === "asm-route-only");
  const full = results.find((r) => r.name === "asm-lane-full");
  if (routeOnly)
    process.stdout.write(
      `route decisions ${routeOnly.medianPerSec >= target ? "PASS" : "BELOW"} target 1,000,000/s: ${fmt(routeOnly.medianPerSec)}/s\n`,
    );
  if (full)
    process.stdout.write(
      `full lane decisions ${full.medianPerSec >= target ? "PASS" : "BELOW"} target 1,000,000/s: ${fmt(full.medianPerSec)}/s\n`,
    );

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, "core-decisions.json");
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        timestamp: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        batches,
        batchMs,
        warmupMs,
        targetPerSec: target,
        cases: results,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`wrote ${out}\n`);
  return results;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCoreDecisions();
}
