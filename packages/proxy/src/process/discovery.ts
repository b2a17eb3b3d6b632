/**
 * `--discovery kubernetes` for `lanecar sidecar|gateway`: starts the Kubernetes source (every
 * cluster listed once, config files read with it) before the process's listeners. The client is
 * imported here, on demand, so processes without discovery never load it.
 */
import type { ClusterSpec } from "../kubernetes/cluster-client.js";
import type { KubernetesSource } from "../kubernetes/kubernetes-source.js";
import { type ProcessOptions, stderrLogger } from "./proxy-process.js";

export interface DiscoveryOptions {
  kind: "kubernetes";
  /** Empty: the in-cluster service account. */
  clusters: ClusterSpec[];
  /** How long to wait for the first list of every resource. Default 60 s. */
  syncTimeoutMs?: number;
}

export async function startDiscovery(
  d: DiscoveryOptions,
  o: Pick<ProcessOptions, "config" | "pollMs" | "logger"> & { namespace: string },
): Promise<KubernetesSource> {
  // Loaded only when asked for: the Kubernetes client costs start-up time and memory.
  const { KubernetesSource } = await import("../kubernetes/kubernetes-source.js");
  return KubernetesSource.start({
    clusters: d.clusters.length > 0 ? d.clusters : [{}],
    paths: o.config,
    namespace: o.namespace,
    pollMs: o.pollMs,
    syncTimeoutMs: d.syncTimeoutMs,
    log: o.logger ?? stderrLogger,
  });
}
