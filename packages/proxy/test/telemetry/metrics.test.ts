import { describe, expect, it } from "vitest";
import { EDGE_LABELS } from "../../src/telemetry/istio-labels.js";
import { ISTIO_BUCKETS, IstioMetrics } from "../../src/telemetry/istio-metrics.js";
import { MetricsRegistry, OVERFLOW } from "../../src/telemetry/metrics-registry.js";

function lines(text: string, prefix: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(prefix));
}

describe("Prometheus registry", () => {
  it("renders counters with HELP/TYPE and escaped label values", () => {
    const r = new MetricsRegistry();
    const c = r.counter("x_total", "Things.", ["a"]);
    c.labels('q"u\\o\nte').inc(2);
    c.labels("plain").inc();
    const text = r.render();
    expect(text).toContain("# HELP x_total Things.\n# TYPE x_total counter\n");
    expect(lines(text, "x_total{")).toEqual(['x_total{a="q\\"u\\\\o\\nte"} 2', 'x_total{a="plain"} 1']);
  });

  it("renders cumulative histogram buckets, sum and count", () => {
    const r = new MetricsRegistry();
    const h = r.histogram("d", "Durations.", ["k"], [1, 5, 10]);
    for (const v of [0.5, 3, 3, 7, 100]) h.labels("v").observe(v);
    const text = r.render();
    expect(lines(text, "d_")).toEqual([
      'd_bucket{k="v",le="1"} 1',
      'd_bucket{k="v",le="5"} 3',
      'd_bucket{k="v",le="10"} 4',
      'd_bucket{k="v",le="+Inf"} 5',
      'd_sum{k="v"} 113.5',
      'd_count{k="v"} 5',
    ]);
  });

  it("folds label sets past the series cap into one overflow series", () => {
    const r = new MetricsRegistry(3);
    const c = r.counter("y_total", "Y.", ["v"]);
    for (let i = 0; i < 100; i++) c.labels(`v${i}`).inc();
    const series = lines(r.render(), "y_total{");
    expect(series).toHaveLength(4);
    expect(series.at(-1)).toBe(`y_total{v="${OVERFLOW}"} 97`);
  });

  it("reads gauges from a callback at render time", () => {
    const r = new MetricsRegistry();
    const g = r.gauge("g", "G.");
    let n = 1;
    g.collect = () => n;
    expect(lines(r.render(), "g ")).toEqual(["g 1"]);
    n = 7;
    expect(lines(r.render(), "g ")).toEqual(["g 7"]);
  });
});

describe("Istio metrics", () => {
  const edgeLabels = (reporter: string) =>
    EDGE_LABELS.map((l) => (l === "reporter" ? reporter : l === "grpc_response_status" ? "" : `${l}-value`));

  it("counts each request under its edge's labels plus code, flags, lane and fallback", () => {
    const m = new IstioMetrics();
    const e = m.edge(edgeLabels("source"));
    for (let i = 0; i < 5; i++) e.record(200, "-", "gray", "none", 3, 10, 2000);
    e.record(200, "-", "gray", "noinstances", 12, 0, 7);
    e.record(503, "UH", "gray", "none", 0.2, 0, 19);
    // Back to the first tuple after others: the last-hit shortcut must not stick to a stale tuple.
    e.record(200, "-", "gray", "none", 3, 10, 2000);
    m.invalidLabels(2);
    const text = m.render();
    const series = lines(text, "istio_requests_total{");
    expect(series).toHaveLength(3);
    expect(series[0]).toMatch(
      /^istio_requests_total\{reporter="source",source_workload="source_workload-value",.*,grpc_response_status="",connection_security_policy="connection_security_policy-value",response_code="200",response_flags="-",lane="gray",fallback="none"\} 6$/,
    );
    expect(text).toContain('response_code="200",response_flags="-",lane="gray",fallback="noinstances"} 1');
    expect(text).toContain('response_code="503",response_flags="UH",lane="gray",fallback="none"} 1');
    expect(lines(text, "istio_request_bytes_sum{").map((l) => l.split(" ")[1])).toEqual(["60", "0", "0"]);
    expect(lines(text, "istio_response_bytes_sum{").map((l) => l.split(" ")[1])).toEqual([
      "12000",
      "7",
      "19",
    ]);
    expect(text).toContain("lanecar_invalid_labels_total 2");
  });

  it("uses Envoy's default buckets, which Istio's request metrics use", () => {
    const m = new IstioMetrics();
    m.edge(edgeLabels("destination")).record(200, "-", "none", "none", 0.3, 0, 0);
    const les = lines(m.render(), "istio_request_duration_milliseconds_bucket{").map(
      (l) => /le="([^"]+)"/.exec(l)![1],
    );
    expect(les).toEqual([...ISTIO_BUCKETS.map(String), "+Inf"]);
    expect(ISTIO_BUCKETS.slice(0, 3)).toEqual([0.5, 1, 5]);
  });

  it("has Lanecar's own series at zero from the start", () => {
    const text = new IstioMetrics().render();
    for (const s of [
      'lanecar_config_reloads_total{result="success"} 0',
      'lanecar_config_reloads_total{result="error"} 0',
      'lanecar_correlation_lookups_total{result="hit"} 0',
      'lanecar_correlation_lookups_total{result="miss"} 0',
      "lanecar_correlation_entries 0",
      "lanecar_ejections_total 0",
      "lanecar_invalid_labels_total 0",
      "lanecar_inbound_probes_total 0",
    ])
      expect(text).toContain(`\n${s}\n`);
  });

  it("refuses an edge with the wrong number of labels", () => {
    expect(() => new IstioMetrics().edge(["source"])).toThrow(/23 labels/);
  });
});
