/**
 * `lanecar sidecar`: the inbound listener (to the app) and the outbound listener (the app's
 * calls), one runtime, one admin API.
 */
import { InboundListener } from "../inbound/inbound-listener.js";
import { RoutedListener } from "../outbound/routed-listener.js";
import { workloadName } from "../runtime.js";
import { type DiscoveryOptions, startDiscovery } from "./discovery.js";
import { type ProcessOptions, ProxyProcess } from "./proxy-process.js";

export interface SidecarOptions extends Omit<ProcessOptions, "identity"> {
  service: string;
  namespace: string;
  podLabels: Record<string, string>;
  /** Istio workload name (`--workload`); default from the pod labels (`workloadName`). */
  workload?: string;
  /** Istio cluster id (`--cluster`); default the pod label `topology.istio.io/cluster`, else unknown. */
  cluster?: string;
  inbound: string;
  app: string;
  outbound: string;
  /** `--discovery kubernetes`: services, endpoints and config from these clusters. */
  discovery?: DiscoveryOptions;
}

export const SIDECAR_DEFAULTS = {
  inbound: "0.0.0.0:15006",
  app: "http://127.0.0.1:8080",
  outbound: "127.0.0.1:15001",
  admin: "127.0.0.1:15000",
  namespace: "default",
};

export async function startSidecar(o: SidecarOptions): Promise<ProxyProcess> {
  const identity = {
    service: o.service,
    namespace: o.namespace,
    podLabels: o.podLabels,
    workload: workloadName(o.service, o.podLabels, o.workload),
    cluster: o.cluster ?? "",
  };
  const source = o.discovery ? await startDiscovery(o.discovery, o) : undefined;
  return ProxyProcess.start({ ...o, identity, source }, [
    {
      name: "inbound",
      address: o.inbound,
      handler: (rt, mesh, log) => new InboundListener(rt, o.app, mesh, (l) => log.error(l)).handle,
      meshInbound: true,
    },
    {
      name: "outbound",
      address: o.outbound,
      handler: (rt) => new RoutedListener("outbound", rt, "mesh").handle,
      // The app's calls for requests still in flight on inbound must keep working (SPEC 10).
      drainsLast: true,
    },
  ]);
}
