/** Telemetry: Prometheus metrics with Istio's names and labels, peer metadata exchange. */
export { DestinationEdges, SourceEdges } from "./edges.js";
export { EDGE_LABELS, PER_REQUEST_LABELS, REQUEST_LABELS, serviceNames } from "./istio-labels.js";
export { ISTIO_BUCKETS, IstioEdge, IstioMetrics } from "./istio-metrics.js";
export {
  Counter,
  DEFAULT_SERIES_CAP,
  Gauge,
  Histogram,
  MetricsRegistry,
  OVERFLOW,
} from "./metrics-registry.js";
export { decodePeerMetadata, encodePeerMetadata, PEER_METADATA_HEADER } from "./peer-metadata.js";
export { endpointMetadata, metadataFromLabels, type WorkloadMetadata } from "./workload-metadata.js";
