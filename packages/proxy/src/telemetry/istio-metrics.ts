/**
 * The metric set of SPEC section 9, with Istio's standard names and labels so existing
 * dashboards, Flagger and Argo Rollouts analyses work, plus Lanecar's own. `request()` is on the
 * hot path: the bound series for one label tuple is cached, so it costs a Map lookup.
 */
import {
  type Counter,
  type CounterChild,
  type Gauge,
  type Histogram,
  type HistogramChild,
  MetricsRegistry,
} from "./metrics-registry.js";

/** Istio's default request-duration buckets (ms). */
export const ISTIO_DURATION_BUCKETS = [
  1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

export const REQUEST_LABELS = [
  "reporter",
  "source_workload",
  "destination_service",
  "destination_version",
  "response_code",
  "response_flags",
  "lane",
  "fallback",
] as const;

export class IstioMetrics {
  readonly registry: MetricsRegistry;
  private readonly requests: Counter;
  private readonly duration: Histogram;
  readonly configReloads: Counter;
  readonly correlationEntries: Gauge;
  readonly correlationLookups: Counter;
  readonly ejections: Counter;
  readonly invalidLabelsTotal: Counter;
  private readonly bound = new Map<string, { count: CounterChild; duration: HistogramChild }>();

  constructor(registry = new MetricsRegistry()) {
    this.registry = registry;
    this.requests = registry.counter(
      "istio_requests_total",
      "Requests handled, by Istio's standard labels plus lane and fallback.",
      REQUEST_LABELS,
    );
    this.duration = registry.histogram(
      "istio_request_duration_milliseconds",
      "Request duration in milliseconds.",
      REQUEST_LABELS,
      ISTIO_DURATION_BUCKETS,
    );
    this.configReloads = registry.counter("lanecar_config_reloads_total", "Config reloads by result.", [
      "result",
    ]);
    this.correlationEntries = registry.gauge(
      "lanecar_correlation_entries",
      "Entries in the correlation store.",
    );
    this.correlationLookups = registry.counter(
      "lanecar_correlation_lookups_total",
      "Correlation store lookups by result.",
      ["result"],
    );
    this.ejections = registry.counter("lanecar_ejections_total", "Endpoints ejected by outlier detection.");
    this.invalidLabelsTotal = registry.counter(
      "lanecar_invalid_labels_total",
      "Label values ignored as invalid.",
    );
  }

  request(
    reporter: string,
    sourceWorkload: string,
    destinationService: string,
    destinationVersion: string,
    code: number,
    flags: string,
    lane: string,
    fallback: string,
    durationMs: number,
  ): void {
    const key = `${reporter}\u0001${sourceWorkload}\u0001${destinationService}\u0001${destinationVersion}\u0001${code}\u0001${flags}\u0001${lane}\u0001${fallback}`;
    let b = this.bound.get(key);
    if (!b) {
      const values = [
        reporter,
        sourceWorkload,
        destinationService,
        destinationVersion,
        String(code),
        flags,
        lane,
        fallback,
      ];
      b = { count: this.requests.labels(...values), duration: this.duration.labels(...values) };
      if (this.bound.size < 10_000) this.bound.set(key, b);
    }
    b.count.inc();
    b.duration.observe(durationMs);
  }

  invalidLabels(n: number): void {
    this.invalidLabelsTotal.inc(n);
  }

  render(): string {
    return this.registry.render();
  }
}
