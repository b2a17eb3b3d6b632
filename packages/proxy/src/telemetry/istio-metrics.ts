/**
 * The metric set of SPEC section 9, with Istio's standard names and labels so existing
 * dashboards, Flagger and Argo Rollouts analyses work, plus Lanecar's own. `request()` is on the
 * hot path: the bound series for one label tuple is cached in a tree of Maps, one level per label,
 * so a request costs eight Map lookups on strings that already know their hash, and allocates
 * nothing (a joined string key would be built and hashed anew on every request).
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

interface Bound {
  count: CounterChild;
  duration: HistogramChild;
}

/** One level of the bound-series tree: label value → next level (or, at the last label, the series). */
type Level = Map<string | number, Level | Bound>;

/** Most label tuples bound (each is two series); past it, tuples share the overflow series. */
const MAX_BOUND = 10_000;

export class IstioMetrics {
  readonly registry: MetricsRegistry;
  private readonly requests: Counter;
  private readonly duration: Histogram;
  readonly configReloads: Counter;
  readonly correlationEntries: Gauge;
  readonly correlationLookups: Counter;
  readonly ejections: Counter;
  readonly invalidLabelsTotal: Counter;
  private readonly bound: Level = new Map();
  private boundCount = 0;

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
    const l1 = this.bound.get(reporter) as Level | undefined;
    const l2 = l1?.get(sourceWorkload) as Level | undefined;
    const l3 = l2?.get(destinationService) as Level | undefined;
    const l4 = l3?.get(destinationVersion) as Level | undefined;
    const l5 = l4?.get(code) as Level | undefined;
    const l6 = l5?.get(flags) as Level | undefined;
    const l7 = l6?.get(lane) as Level | undefined;
    const b =
      (l7?.get(fallback) as Bound | undefined) ??
      this.bind([
        reporter,
        sourceWorkload,
        destinationService,
        destinationVersion,
        code,
        flags,
        lane,
        fallback,
      ]);
    b.count.inc();
    b.duration.observe(durationMs);
  }

  /** Binds (and, under the cap, caches) the series of one label tuple: the slow path of `request`. */
  private bind(key: [string, string, string, string, number, string, string, string]): Bound {
    const values = key.map(String);
    const b: Bound = { count: this.requests.labels(...values), duration: this.duration.labels(...values) };
    if (this.boundCount >= MAX_BOUND) return b;
    let level = this.bound;
    for (let i = 0; i < key.length - 1; i++) {
      let next = level.get(key[i]!) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key[i]!, next);
      }
      level = next;
    }
    level.set(key[key.length - 1]!, b);
    this.boundCount++;
    return b;
  }

  invalidLabels(n: number): void {
    this.invalidLabelsTotal.inc(n);
  }

  render(): string {
    return this.registry.render();
  }
}
