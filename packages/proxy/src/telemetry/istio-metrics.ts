/**
 * The metric set of SPEC section 9: Istio's request metrics with Istio's names, labels and
 * buckets, so Flagger, Argo Rollouts, Kiali and Istio's dashboards read them unchanged, plus
 * Lanecar's own counters (all present, at zero, from the start, so `{result="error"}` queries
 * answer 0 rather than nothing).
 *
 * Hot path: the 23 labels fixed for an edge (who calls whom, which service) are bound once, into
 * an `IstioEdge`, by the listener (per peer, or per endpoint and service). A request then finds its
 * (code, flags, lane, fallback) among the edge's last few tuples by comparison (short strings, no
 * hashing), else by four Map lookups, then adds to a counter and three histograms.
 * Nothing is allocated per request.
 */
import type { MetricsSink, RequestEdge } from "../runtime.js";
import { EDGE_LABELS, REQUEST_LABELS } from "./istio-labels.js";
import {
  type Counter,
  type CounterChild,
  type Gauge,
  type Histogram,
  type HistogramChild,
  MetricsRegistry,
} from "./metrics-registry.js";

/** Envoy's default histogram buckets, which Istio's request metrics use (ms, and bytes alike). */
export const ISTIO_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

interface Bound {
  readonly code: number;
  readonly flags: string;
  readonly lane: string;
  readonly fallback: string;
  count: CounterChild;
  duration: HistogramChild;
  requestBytes: HistogramChild;
  responseBytes: HistogramChild;
}

type ByFallback = Map<string, Bound>;
type ByLane = Map<string, ByFallback>;
type ByFlags = Map<string, ByLane>;

/** Most per-request label tuples cached over all edges; past it, tuples bind without caching. */
const MAX_BOUND = 10_000;
/** Tuples an edge checks before its Map tree: an edge mostly sees a handful (200/503, two lanes). */
const RECENT = 8;

/** The series of one edge, per (code, flags, lane, fallback). */
export class IstioEdge implements RequestEdge {
  private readonly byCode = new Map<number, ByFlags>();
  /** The last tuples seen, checked first (compares only, no hashing). */
  private readonly recent: Bound[] = [];
  private next = 0;

  constructor(
    private readonly metrics: IstioMetrics,
    /** Values of `EDGE_LABELS`, in order. */
    readonly labels: readonly string[],
  ) {}

  record(
    code: number,
    flags: string,
    lane: string,
    fallback: string,
    durationMs: number,
    requestBytes: number,
    responseBytes: number,
  ): void {
    const recent = this.recent;
    let b: Bound | undefined;
    for (let i = 0; i < recent.length; i++) {
      const r = recent[i]!;
      if (r.code === code && r.lane === lane && r.flags === flags && r.fallback === fallback) {
        b = r;
        break;
      }
    }
    if (b === undefined) {
      b =
        this.byCode.get(code)?.get(flags)?.get(lane)?.get(fallback) ?? this.bind(code, flags, lane, fallback);
      recent[this.next] = b;
      this.next = (this.next + 1) % RECENT;
    }
    b.count.value++;
    b.duration.observe(durationMs);
    b.requestBytes.observe(requestBytes);
    b.responseBytes.observe(responseBytes);
  }

  /** The slow path: binds (and, under the cap, caches) the series of one tuple. */
  private bind(code: number, flags: string, lane: string, fallback: string): Bound {
    const b = this.metrics.bindSeries(code, flags, lane, fallback, [
      ...this.labels,
      String(code),
      flags,
      lane,
      fallback,
    ]);
    if (!this.metrics.reserve()) return b;
    let byFlags = this.byCode.get(code);
    if (!byFlags) this.byCode.set(code, (byFlags = new Map()));
    let byLane = byFlags.get(flags);
    if (!byLane) byFlags.set(flags, (byLane = new Map()));
    let byFallback = byLane.get(lane);
    if (!byFallback) byLane.set(lane, (byFallback = new Map()));
    byFallback.set(fallback, b);
    return b;
  }
}

export class IstioMetrics implements MetricsSink {
  readonly registry: MetricsRegistry;
  private readonly requests: Counter;
  private readonly duration: Histogram;
  private readonly requestBytes: Histogram;
  private readonly responseBytes: Histogram;
  readonly configReloads: Counter;
  readonly correlationEntries: Gauge;
  readonly correlationLookups: Counter;
  readonly ejections: Counter;
  readonly invalidLabelsTotal: Counter;
  readonly probes: Counter;
  readonly upstreamConnectFailures: Counter;
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
      ISTIO_BUCKETS,
    );
    this.requestBytes = registry.histogram(
      "istio_request_bytes",
      "Request body sizes in bytes.",
      REQUEST_LABELS,
      ISTIO_BUCKETS,
    );
    this.responseBytes = registry.histogram(
      "istio_response_bytes",
      "Response body sizes in bytes.",
      REQUEST_LABELS,
      ISTIO_BUCKETS,
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
    this.probes = registry.counter(
      "lanecar_inbound_probes_total",
      "Active health-check probes answered by the inbound listener (never counted in istio_*).",
    );
    this.upstreamConnectFailures = registry.counter(
      "lanecar_upstream_connect_failures_total",
      "Upstream connection attempts that failed (reason tls: the TLS handshake), as Envoy's upstream_cx_connect_fail.",
      ["reason"],
    );
    // Every series of Lanecar's own exists from the start, at zero.
    for (const r of ["connect", "tls"]) this.upstreamConnectFailures.labels(r);
    for (const r of ["success", "error"]) this.configReloads.labels(r);
    for (const r of ["hit", "miss"]) this.correlationLookups.labels(r);
    this.correlationEntries.labels();
    this.ejections.labels();
    this.invalidLabelsTotal.labels();
    this.probes.labels();
  }

  /** Binds the fixed labels of one edge (`EDGE_LABELS` order). Not for the hot path. */
  edge(labels: readonly string[]): IstioEdge {
    if (labels.length !== EDGE_LABELS.length)
      throw new Error(`an edge has ${EDGE_LABELS.length} labels, got ${labels.length}`);
    return new IstioEdge(this, labels);
  }

  /** @internal The four series of one full label tuple. */
  bindSeries(code: number, flags: string, lane: string, fallback: string, values: readonly string[]): Bound {
    return {
      code,
      flags,
      lane,
      fallback,
      count: this.requests.labelsOf(values),
      duration: this.duration.labelsOf(values),
      requestBytes: this.requestBytes.labelsOf(values),
      responseBytes: this.responseBytes.labelsOf(values),
    };
  }

  /** @internal Takes one place in the bound-tuple cache; false once it is full. */
  reserve(): boolean {
    if (this.boundCount >= MAX_BOUND) return false;
    this.boundCount++;
    return true;
  }

  probe(): void {
    this.probes.inc();
  }

  invalidLabels(n: number): void {
    this.invalidLabelsTotal.inc(n);
  }

  render(): string {
    return this.registry.render();
  }
}
