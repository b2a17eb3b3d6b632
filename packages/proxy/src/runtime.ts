/**
 * What every listener of one Lanecar process shares: the config source, the health model, the
 * upstream pools, the correlation store, metrics, and who this workload is.
 */
import type { CorrelationLookup, CorrelationRecord, HeaderGetter } from "@lanecar/core";
import type { LaneTokenVerifier } from "./gateway/lane-token.js";
import type { CredentialStore } from "./identity/credentials.js";
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
  /** Istio's workload name (`source_workload`/`destination_workload`): see `workloadName`. */
  workload: string;
  /** Istio's cluster id (`--cluster`, else pod label `topology.istio.io/cluster`); "" = unknown. */
  cluster: string;
}

export interface CorrelationStoreLike {
  readonly lookup: CorrelationLookup;
  /** Stores `rec` under every correlation header present on the inbound request. */
  recordInbound(header: HeaderGetter, correlationHeaders: readonly string[], rec: CorrelationRecord): void;
}

/** The series of one edge (who calls whom, which service), bound once; `record` is the hot path. */
export interface RequestEdge {
  record(
    code: number,
    flags: string,
    lane: string,
    fallback: string,
    durationMs: number,
    requestBytes: number,
    responseBytes: number,
  ): void;
}

export interface MetricsSink {
  /** Binds the labels fixed for one edge (telemetry/istio-labels.ts `EDGE_LABELS` order). */
  edge(labels: readonly string[]): RequestEdge;
  /** An active health-check probe was answered (kept out of `istio_*`). */
  probe(): void;
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
  /** TLS credentials by `credentialName` (`--credentials-dir`); absent without the flag. */
  readonly credentials?: CredentialStore;
}

/** Pod label naming the workload explicitly (Istio reads it on WorkloadEntries too). */
const WORKLOAD_NAME_LABEL = "service.istio.io/workload-name";

/**
 * Istio's workload name of this process: `--workload` when given; else the pod label
 * `service.istio.io/workload-name`; else `<app>-<version>` (the Deployment naming Bookinfo and
 * most charts use, which Istio would read from the pod's owner), or `<app>` without a version,
 * with the service's short name standing in for a missing `app` label.
 */
export function workloadName(
  service: string,
  podLabels: Readonly<Record<string, string>>,
  explicit?: string,
): string {
  if (explicit) return explicit;
  const labelled = podLabels[WORKLOAD_NAME_LABEL];
  if (labelled) return labelled;
  const app = podLabels.app ?? service.split(".")[0] ?? service;
  return podLabels.version ? `${app}-${podLabels.version}` : app;
}
