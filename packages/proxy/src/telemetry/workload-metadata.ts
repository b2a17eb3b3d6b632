/**
 * Who a workload is, in the terms Istio's telemetry uses: workload name, namespace, app, version,
 * canonical service and revision, cluster. Derived from pod (or endpoint) labels exactly as Istio
 * derives them (istio/istio `CanonicalService`, istio/proxy `metadata_object.h`), so the labels of
 * `istio_*` series match what Istio itself would report for the same pods:
 *
 * - canonical service: `service.istio.io/canonical-name`, else `app.kubernetes.io/name`, else `app`,
 *   else the workload name;
 * - canonical revision: `service.istio.io/canonical-revision`, else `app.kubernetes.io/version`,
 *   else `version`, else `latest`;
 * - app / version: `app.kubernetes.io/name|version`, else `app` / `version`;
 * - cluster: `topology.istio.io/cluster` (Istio's cluster label), else unknown.
 *
 * Empty string means "not known"; the metric labels turn it into `unknown` (or `latest` for a
 * revision) exactly where Istio does.
 */
import type { Endpoint } from "@lanecar/core";

export interface WorkloadMetadata {
  readonly workload: string;
  readonly namespace: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

export const CANONICAL_NAME_LABEL = "service.istio.io/canonical-name";
export const CANONICAL_REVISION_LABEL = "service.istio.io/canonical-revision";
export const WORKLOAD_NAME_LABEL = "service.istio.io/workload-name";
export const CLUSTER_LABEL = "topology.istio.io/cluster";

type Labels = Readonly<Record<string, string>>;

function first(labels: Labels, keys: readonly string[]): string {
  for (const k of keys) {
    const v = labels[k];
    if (v) return v;
  }
  return "";
}

const NAME_KEYS = [CANONICAL_NAME_LABEL, "app.kubernetes.io/name", "app"];
const REVISION_KEYS = [CANONICAL_REVISION_LABEL, "app.kubernetes.io/version", "version"];
const APP_KEYS = ["app.kubernetes.io/name", "app"];
const VERSION_KEYS = ["app.kubernetes.io/version", "version"];

/** The metadata of a workload with these labels, name, namespace and cluster. */
export function metadataFromLabels(
  labels: Labels,
  workload: string,
  namespace: string,
  cluster = "",
): WorkloadMetadata {
  return {
    workload,
    namespace,
    app: first(labels, APP_KEYS),
    version: first(labels, VERSION_KEYS),
    canonicalService: first(labels, NAME_KEYS) || workload,
    canonicalRevision: first(labels, REVISION_KEYS) || "latest",
    cluster: cluster || labels[CLUSTER_LABEL] || "",
  };
}

/**
 * The workload an endpoint belongs to, from what the config says about it: Istio names a
 * WorkloadEntry's workload by its `service.istio.io/workload-name` label, else the entry's name
 * (`WorkloadNameFromWorkloadEntry`); a ServiceEntry's inline endpoint has no workload name unless
 * labelled. The namespace is the entry's.
 */
export function endpointMetadata(ep: Endpoint): WorkloadMetadata {
  // origin: `WorkloadEntry/<ns>/<name>` or `ServiceEntry/<ns>/<name>`.
  const [kind, namespace = "", name = ""] = ep.origin.split("/");
  const workload = ep.labels[WORKLOAD_NAME_LABEL] || (kind === "WorkloadEntry" ? name : "");
  return metadataFromLabels(ep.labels, workload, namespace);
}
