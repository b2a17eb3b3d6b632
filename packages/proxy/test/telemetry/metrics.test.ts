import { describe, expect, it } from "vitest";
import { IstioMetrics } from "../../src/telemetry/istio-metrics.js";
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
  it("counts each request under Istio's labels plus lane and fallback", () => {
    const m = new IstioMetrics();
    for (let i = 0; i < 5; i++)
      m.request("source", "a-v1", "b.default.svc.cluster.local", "v2", 200, "-", "gray", "none", 3);
    m.request("source", "a-v1", "b.default.svc.cluster.local", "v1", 200, "-", "gray", "noinstances", 12);
    m.invalidLabels(2);
    const text = m.render();
    expect(text).toContain(
      'istio_requests_total{reporter="source",source_workload="a-v1",destination_service="b.default.svc.cluster.local",destination_version="v2",response_code="200",response_flags="-",lane="gray",fallback="none"} 5',
    );
    expect(text).toContain('fallback="noinstances"} 1');
    expect(text).toContain(
      'istio_request_duration_milliseconds_count{reporter="source",source_workload="a-v1",destination_service="b.default.svc.cluster.local",destination_version="v1",response_code="200",response_flags="-",lane="gray",fallback="noinstances"} 1',
    );
    expect(text).toContain("lanecar_invalid_labels_total 2");
  });
});
