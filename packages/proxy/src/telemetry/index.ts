/** Telemetry: Prometheus metrics with Istio's names. */
export { ISTIO_DURATION_BUCKETS, IstioMetrics, REQUEST_LABELS } from "./istio-metrics.js";
export {
  Counter,
  DEFAULT_SERIES_CAP,
  Gauge,
  Histogram,
  MetricsRegistry,
  OVERFLOW,
} from "./metrics-registry.js";
