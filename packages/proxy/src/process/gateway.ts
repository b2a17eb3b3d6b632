/**
 * `lanecar gateway`: the edge. Routes by the Gateway and the VirtualServices bound to it,
 * decides the lane there (header/cookie match, weights, header operations) and carries it on.
 * Without `--gateway`, the only Gateway in the config is used.
 */
import { ConfigError, ConfigSnapshot, loadSnapshot } from "@lanecar/core";
import { RoutedListener } from "../outbound/routed-listener.js";
import { workloadName } from "../runtime.js";
import { type DiscoveryOptions, startDiscovery } from "./discovery.js";
import { type ProcessOptions, ProxyProcess } from "./proxy-process.js";

export interface GatewayOptions extends Omit<ProcessOptions, "identity"> {
  gateway: string | undefined;
  namespace: string;
  podLabels: Record<string, string>;
  /** Istio workload name (`--workload`); default from the pod labels (`workloadName`). */
  workload?: string;
  /** Istio cluster id (`--cluster`); default the pod label `topology.istio.io/cluster`, else unknown. */
  cluster?: string;
  listen: string;
  /** `--discovery kubernetes`: services, endpoints and config (the Gateway too) from these clusters. */
  discovery?: DiscoveryOptions;
}

export const GATEWAY_DEFAULTS = { listen: "0.0.0.0:8080", admin: "127.0.0.1:15000", namespace: "default" };

export class GatewayNotFoundError extends Error {
  readonly code = "LANECAR_GATEWAY_NOT_FOUND";
}

/** `ns/name` of the Gateway to serve (checked against the config). */
export function gatewayContext(
  config: readonly string[],
  name: string | undefined,
  namespace: string,
): string {
  const { snapshot, diagnostics } = loadSnapshot(config, { namespace });
  if (!snapshot) throw new ConfigError(diagnostics);
  return gatewayContextIn(snapshot, name, namespace);
}

/** `ns/name` of the Gateway to serve, checked against a snapshot. */
export function gatewayContextIn(
  snapshot: ConfigSnapshot,
  name: string | undefined,
  namespace: string,
): string {
  const gws = snapshot.ofKind("Gateway");
  if (name) {
    const ctx = ConfigSnapshot.gatewayContext(name, namespace);
    if (!snapshot.gateway(ctx)) {
      throw new GatewayNotFoundError(
        `Gateway ${ctx} is not defined (known: ${gws.map((g) => `${g.namespace}/${g.name}`).join(", ") || "none"})`,
      );
    }
    return ctx;
  }
  if (gws.length === 1) return `${gws[0]!.namespace}/${gws[0]!.name}`;
  throw new GatewayNotFoundError(
    gws.length === 0
      ? "the config defines no Gateway"
      : `several Gateways are defined; pick one with --gateway (${gws.map((g) => g.name).join(", ")})`,
  );
}

export async function startGateway(o: GatewayOptions): Promise<ProxyProcess> {
  const source = o.discovery ? await startDiscovery(o.discovery, o) : undefined;
  let context: string;
  try {
    context = source
      ? gatewayContextIn(source.current, o.gateway, o.namespace)
      : gatewayContext(o.config, o.gateway, o.namespace);
  } catch (err) {
    source?.stop();
    throw err;
  }
  const name = context.split("/")[1]!;
  const identity = {
    service: name,
    namespace: o.namespace,
    podLabels: o.podLabels,
    workload: workloadName(name, o.podLabels, o.workload),
    cluster: o.cluster ?? "",
  };
  return ProxyProcess.start({ ...o, identity, source }, [
    {
      name: "gateway",
      address: o.listen,
      handler: (rt) => new RoutedListener("gateway", rt, context).handle,
    },
  ]);
}
