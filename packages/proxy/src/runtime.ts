/**
 * What every listener of one Lanecar process shares: the config source, the health model, the
 * upstream pools, the correlation store, metrics, and who this workload is.
 */
import type { CorrelationLookup, CorrelationRecord, HeaderGetter } from "@lanecar/core";
import type { LaneTokenVerifier } from "./gateway/lane-token.js";
import type { SnapshotSource } from "./process/snapshot-source.js";
import type { AccessLog } from "./telemetry/access-log.js";
import type { HopTracer } from "./tracing/hop-tracer.js";
import type { UpstreamPools } from "./upstream/pools.js";
import type { UpstreamHealth } from "./upstream/upstream-health.js";

export interface WorkloadIdentity {
  /** Service FQDN or short name this sidecar serves (`--service`); the gateway's name for gateways. */
  service: string;
  namespace: string;
  podLabels: Readonly<Record<string, string>>;
  /** Istio `source_workload`: `<app>-<version>` when labelled, else the service name. */
  workload: string;
}

export interface CorrelationStoreLike {
  readonly lookup: CorrelationLookup;
  /** Stores `rec` under every correlation header present on the inbound request. */
  recordInbound(header: HeaderGetter, correlationHeaders: readonly string[], rec: CorrelationRecord): void;
}

export interface MetricsSink {
  request(
    reporter: "source" | "destination",
    sourceWorkload: string,
    destinationService: string,
    destinationVersion: string,
    code: number,
    flags: string,
    lane: string,
    fallback: string,
    durationMs: number,
  ): void;
  invalidLabels(n: number): void;
}

export interface ProxyRuntime {
  readonly config: SnapshotSource;
  readonly health: UpstreamHealth;
  readonly pools: UpstreamPools;
  readonly correlation: CorrelationStoreLike;
  readonly metrics: MetricsSink;
  readonly identity: WorkloadIdentity;
  /** Present only when tracing is on (OTEL_TRACES_EXPORTER / LANECAR_TRACING). */
  tracer: HopTracer | undefined;
  /** Gateway: verifies signed lane tokens (`--lane-token-key-file`). */
  readonly laneTokens: LaneTokenVerifier | undefined;
  /** Present only with `--access-log`. */
  readonly accessLog: AccessLog | undefined;
}

export function workloadName(service: string, podLabels: Readonly<Record<string, string>>): string {
  const app = podLabels.app ?? service.split(".")[0] ?? service;
  return podLabels.version ? `${app}-${podLabels.version}` : app;
}
