/**
 * Istio's ecosystem reads Lanecar's metrics unchanged, proven with the real thing: Debian's
 * Prometheus scrapes every process of the Bookinfo demo (each sidecar's admin port and the
 * gateway's) every second while evenly mixed traffic flows, including a gray reviews v2 that fails
 * exactly a quarter of its requests (FAIL_PERCENT=25) and the dev lane's fallbacks. Every query of
 * ../shared/conformance/observability/queries.json (Flagger's built-in checks, Argo Rollouts'
 * success rate, Istio dashboard and Kiali-style group-bys; read at test time) must return the value
 * the traffic implies, as the clients observed it. Then, traffic stopped: health probes and admin
 * requests are in no `istio_*` series, both reporters agree request for request, and `promtool
 * check metrics` finds nothing but Istio's own naming.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookinfoRunner } from "../../examples/bookinfo/src/demo/runner.js";
import { INSTANCES } from "../../examples/bookinfo/src/topology.js";
import { type Observed, Traffic } from "./bookinfo-traffic.js";
import { Prometheus, promtoolProblems, type Sample, SCRAPE_INTERVAL_S } from "./prometheus.js";

const QUERIES = fileURLToPath(
  new URL("../../../shared/conformance/observability/queries.json", import.meta.url),
);
const FAIL_PERCENT = 25;
const FQDN = (s: string) => `${s}.default.svc.cluster.local`;

interface Query {
  id: string;
  source: string;
  expr: string;
}

let runner: BookinfoRunner;
let prom: Prometheus;
const targets: string[] = [];

beforeAll(async () => {
  runner = await BookinfoRunner.create({
    ports: "free",
    appEnv: { "reviews-v2": { FAIL_PERCENT: String(FAIL_PERCENT) } },
  });
  await runner.startAll(INSTANCES.map((i) => i.name));
  await runner.startGateway();
  for (const i of INSTANCES) targets.push(`127.0.0.1:${runner.portsOf(i.name).admin}`);
  prom = await Prometheus.start([
    { job: "lanecar-gateway", targets: [runner.gatewayAdmin] },
    { job: "lanecar-sidecars", targets },
  ]);
}, 180_000);

afterAll(async () => {
  await prom?.stop();
  await runner?.stopAll();
}, 60_000);

/** Reviews calls the clients saw, and the failed share (reviews v2 answers 500 to FAIL_PERCENT %). */
function reviewsSeen(o: Observed) {
  let total = 0;
  for (const n of o.reviews.values()) total += n;
  const failed = o.reviews.get("error:500") ?? 0;
  const v2 = (o.reviews.get("v2") ?? 0) + failed;
  return { total, failed, v2 };
}

/**
 * An `irate` success rate looks at the last two scrapes only: one second of traffic, n ≈ the
 * reviews calls per second. Its value is the success share of that second: the traffic's share
 * within sampling error (4σ of a binomial share over n calls, at least 0.06).
 */
function expectIrateSuccess(value: number, o: Observed) {
  const s = reviewsSeen(o);
  const p = s.failed / s.total;
  const perSecond = Math.max(1, (s.total * 1000) / (Date.now() - traffic.startedAt));
  const tolerance = Math.max(0.06, 4 * Math.sqrt((p * (1 - p)) / perSecond));
  expect(Math.abs(value - (1 - p)), `tolerance ${tolerance.toFixed(3)}`).toBeLessThanOrEqual(tolerance);
}

const byLabels = (r: Sample[], ...names: string[]) =>
  r.map((s) => names.map((n) => s.metric[n] ?? "").join(" ")).sort();

/** What each query must return under this traffic. A query the file adds without one here fails. */
const EXPECT: Record<string, (r: Sample[], o: Observed) => void> = {
  "flagger request-success-rate target=reviews-v2": (r) => {
    expect(r).toHaveLength(1);
    expect(r[0]!.value).toBeGreaterThan(100 - FAIL_PERCENT - 5);
    expect(r[0]!.value).toBeLessThan(100 - FAIL_PERCENT + 5);
  },
  "flagger request-duration target=reviews-v2": (r) => {
    expect(r).toHaveLength(1);
    expect(r[0]!.value).toBeGreaterThan(0);
    expect(r[0]!.value).toBeLessThan(10_000);
  },
  "flagger request-success-rate target=productpage-v2": (r) => {
    expect(r).toHaveLength(1);
    expect(r[0]!.value).toBe(100);
  },
  "flagger request-duration target=productpage-v2": (r) => {
    expect(r).toHaveLength(1);
    expect(r[0]!.value).toBeGreaterThan(0);
    expect(r[0]!.value).toBeLessThan(10_000);
  },
  "argo success-rate service-name=reviews.default.svc.cluster.local": (r, o) => {
    expect(r).toHaveLength(1);
    expectIrateSuccess(r[0]!.value, o);
  },
  "argo success-rate service-name=productpage.default.svc.cluster.local": (r) => {
    expect(r).toHaveLength(1);
    expect(r[0]!.value).toBe(1);
  },
  "argo success-rate service-name=reviews": (r) => {
    // As in Istio: destination_service is the FQDN, so the short name matches nothing. Argo's
    // `service-name` argument must be the FQDN (README).
    expect(r).toEqual([]);
  },
  "argo (community/workshop) destination_service_name=reviews": (r, o) => {
    // Both reporters, so each call counts twice: the share is the same.
    expect(r).toHaveLength(1);
    expectIrateSuccess(r[0]!.value, o);
  },
  "istio mesh dashboard style: HTTP workloads table": (r) => {
    expect(
      byLabels(r, "destination_workload", "destination_workload_namespace", "destination_service"),
    ).toEqual(INSTANCES.map((i) => `${i.name} default ${FQDN(i.service)}`).sort());
    for (const s of r) expect(s.value).toBeGreaterThan(0);
  },
  "istio service dashboard style: inbound by source": (r) => {
    expect(byLabels(r, "source_workload", "source_workload_namespace")).toEqual([
      "productpage-v1 default",
      "productpage-v2 default",
    ]);
    for (const s of r) expect(s.value).toBeGreaterThan(0);
  },
};

let traffic: Traffic;

describe("Prometheus scraping the Bookinfo demo", () => {
  it("scrapes every process: the gateway's and each sidecar's admin port", async () => {
    const up = await prom.until(
      "up",
      (r) => r.length === targets.length + 1 && r.every((s) => s.value === 1),
    );
    expect(up).toHaveLength(INSTANCES.length + 1);
    // Lanecar's own counters exist at zero from the start: `{result="error"}` answers 0, not nothing.
    const errors = await prom.query('lanecar_config_reloads_total{result="error"}');
    expect(errors.map((s) => s.value)).toEqual(new Array(INSTANCES.length + 1).fill(0));
  }, 60_000);

  it("answers every query of queries.json with the value the traffic implies", async () => {
    const queries = JSON.parse(readFileSync(QUERIES, "utf8")) as Query[];
    expect(queries.length).toBeGreaterThan(0);
    expect(queries.map((q) => q.id).filter((id) => !(id in EXPECT))).toEqual([]);
    traffic = new Traffic(runner.gatewayUrl);
    // Enough scrapes of the failing edge for rate() over it to settle (and irate to have two).
    await prom.until(
      'count_over_time(istio_requests_total{reporter="destination",destination_workload="reviews-v2",response_code="500"}[1m])',
      (r) => r.length === 1 && r[0]!.value >= 8,
      60_000,
    );
    const answers: string[] = [];
    for (const q of queries) {
      const r = await prom.query(q.expr);
      answers.push(`${q.id}: ${JSON.stringify(r.map((s) => s.value))}`);
      try {
        EXPECT[q.id]!(r, traffic.seen);
      } catch (err) {
        throw new Error(
          `${q.id} (${q.source})\n  ${q.expr}\n  returned ${JSON.stringify(r)}\n  clients saw ${JSON.stringify(
            reviewsSeen(traffic.seen),
          )}\n${(err as Error).message}`,
        );
      }
    }
    // Every productpage → reviews → ratings edge, both workloads named (Kiali's graph).
    const edges = await prom.query(
      'sum by (source_workload, destination_workload) (rate(istio_requests_total{reporter="destination"}[1m]))',
    );
    expect(byLabels(edges, "source_workload", "destination_workload")).toEqual(
      [
        "istio-ingressgateway productpage-v1",
        "istio-ingressgateway productpage-v2",
        "productpage-v1 details-v1",
        "productpage-v1 reviews-v1",
        "productpage-v1 reviews-v3",
        "productpage-v2 details-v1",
        "productpage-v2 reviews-v2",
        "reviews-v1 ratings-v1",
        "reviews-v2 ratings-v2",
        "reviews-v3 ratings-v1",
      ].sort(),
    );
    // The dev lane falls back (productpage, ratings have no dev instance) and keeps its label.
    const dev = await prom.query(
      'sum by (source_workload, destination_service_name, fallback) (rate(istio_requests_total{reporter="source",lane="dev"}[1m]))',
    );
    expect(byLabels(dev, "source_workload", "destination_service_name", "fallback")).toEqual(
      [
        "istio-ingressgateway productpage noinstances",
        "productpage-v1 details noinstances",
        "productpage-v1 reviews none",
        "reviews-v3 ratings noinstances",
      ].sort(),
    );
    await traffic.stop();
    expect(traffic.seen.errors).toEqual([]);
    expect([...traffic.seen.statuses.keys()]).toEqual([200]);
    expect(reviewsSeen(traffic.seen).failed).toBeGreaterThan(0);
    process.stderr.write(`queries.json answers:\n  ${answers.join("\n  ")}\n`);
  }, 150_000);

  it("counts only real traffic, the same on both reporters, every visitor in a lane", async () => {
    // Settled: every target scraped at least twice after the last request ended.
    await new Promise((r) => setTimeout(r, 3000 * SCRAPE_INTERVAL_S));
    const sent = [...traffic.seen.statuses.values()].reduce((a, b) => a + b, 0);
    await prom.until(
      'sum(istio_requests_total{reporter="source",source_workload="istio-ingressgateway"})',
      (r) => r[0]?.value === sent,
    );
    const dst = await prom.query(
      'sum by (destination_workload) (istio_requests_total{reporter="destination"})',
    );
    const src = await prom.query('sum by (destination_workload) (istio_requests_total{reporter="source"})');
    // Probes (every caller probes every instance each 2 s) would make the destination side larger.
    expect(byLabels(dst, "destination_workload")).toEqual(byLabels(src, "destination_workload"));
    const n = (r: Sample[], w: string) => r.find((s) => s.metric.destination_workload === w)?.value;
    for (const s of src)
      expect(n(dst, s.metric.destination_workload!), s.metric.destination_workload).toBe(s.value);
    expect(await prom.scalar("sum(lanecar_inbound_probes_total)")).toBeGreaterThan(0);
    expect(await prom.query('istio_requests_total{source_workload="unknown"}')).toEqual([]);
    // Prometheus's own scrapes of the admin port are not requests either.
    expect(await prom.query('istio_requests_total{destination_service=~".*admin.*|.*metrics.*"}')).toEqual(
      [],
    );
    // New visitors are put in a lane by the weighted route's header `set`: the gateway says which.
    expect(
      await prom.query('sum(istio_requests_total{source_workload="istio-ingressgateway",lane="none"})'),
    ).toEqual([]);
  }, 60_000);

  it("passes promtool check metrics, apart from Istio's own metric naming", async () => {
    for (const t of [runner.gatewayAdmin, targets[3]!]) {
      const body = await (await fetch(`http://${t}/metrics`)).text();
      expect(body).toContain("istio_requests_total{");
      expect(promtoolProblems(body)).toEqual([
        'istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"',
      ]);
    }
  });
});
