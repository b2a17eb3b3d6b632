/**
 * `lanecar gateway`: the edge. Routes by the Gateway and the VirtualServices bound to it,
 * decides the lane there (header/cookie match, weights, header operations) and carries it on.
 * Without `--gateway`, the only Gateway in the config is used. The Gateway's HTTP servers are
 * served on `--listen`, its HTTPS servers (TLS SIMPLE/MUTUAL, SNI) on `--listen-https`.
 */
import { ConfigError, ConfigSnapshot, loadSnapshot } from "@lanecar/core";
import { EdgeTls, httpsServers } from "../edge-tls/edge-tls.js";
import { DataPathError, dataPath } from "../fallback/data-path.js";
import { EdgeHosts } from "../gateway/edge-hosts.js";
import { RoutedListener } from "../outbound/routed-listener.js";
import { type ProxyRuntime, workloadName } from "../runtime.js";
import { type DiscoveryOptions, startDiscovery } from "./discovery.js";
import { type ListenerSpec, type ProcessOptions, ProxyProcess, stderrLogger } from "./proxy-process.js";

export interface GatewayOptions extends Omit<ProcessOptions, "identity"> {
  gateway: string | undefined;
  namespace: string;
  podLabels: Record<string, string>;
  /** Istio workload name (`--workload`); default from the pod labels (`workloadName`). */
  workload?: string;
  /** Istio cluster id (`--cluster`); default the pod label `topology.istio.io/cluster`, else unknown. */
  cluster?: string;
  listen: string;
  /**
   * `--listen-https`: the HTTPS servers' listener. Opened when given, or (at the default address)
   * when the Gateway has HTTPS servers at start.
   */
  listenHttps?: string;
  /** `--discovery kubernetes`: services, endpoints and config (the Gateway too) from these clusters. */
  discovery?: DiscoveryOptions;
}

export const GATEWAY_DEFAULTS = {
  listen: "0.0.0.0:8080",
  listenHttps: "0.0.0.0:8443",
  admin: "127.0.0.1:15000",
  namespace: "default",
};

export class GatewayNotFoundError extends Error {
  readonly code = "LANECAR_GATEWAY_NOT_FOUND";
}

/** `ns/name` of the Gateway to serve (checked against the config). */
export function gatewayContext(
  config: readonly string[],
  name: string | undefined,
  namespace: string,
): string {
  return gatewayContextIn(loaded(config, namespace), name, namespace);
}

function loaded(config: readonly string[], namespace: string): ConfigSnapshot {
  const { snapshot, diagnostics } = loadSnapshot(config, { namespace });
  if (!snapshot) throw new ConfigError(diagnostics);
  return snapshot;
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
  let initial: ConfigSnapshot;
  try {
    initial = source ? source.current : loaded(o.config, o.namespace);
    context = gatewayContextIn(initial, o.gateway, o.namespace);
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
  const https = o.listenHttps !== undefined || httpsServers(initial, context).length > 0;
  const listeners: ListenerSpec[] = [
    {
      name: "gateway",
      address: o.listen,
      handler: (rt) =>
        new EdgeHosts(rt, context, "http", new RoutedListener("gateway", rt, context).handle).handle,
    },
  ];
  let edge: EdgeTls | undefined;
  if (https) {
    // The fallback has no TLS hooks: refusing beats serving the HTTPS servers some other way.
    const path = dataPath();
    if (path.kind === "node") {
      source?.stop();
      throw new DataPathError(
        `TLS at the edge (the HTTPS servers of Gateway ${context}, --listen-https) runs only on Lanecar's HTTP/1.1 codec, not on the node:http fallback (${path.reason})`,
      );
    }
    const log = o.logger ?? stderrLogger;
    // One EdgeTls for the listener's gate and its handler (which asks it what a connection chose).
    const edgeOf = (rt: ProxyRuntime): EdgeTls => {
      if (edge) return edge;
      const e = new EdgeTls(
        () => rt.config.current,
        context,
        rt.credentials,
        (m) => log.error(m),
        o.limits?.headersTimeoutMs,
      );
      e.table(); // checks every server's certificate now: the warnings come at start
      rt.config.on("reload", (snap: ConfigSnapshot) => e.table(snap));
      edge = e;
      return e;
    };
    listeners.push({
      name: "gateway-https",
      address: o.listenHttps ?? GATEWAY_DEFAULTS.listenHttps,
      handler: (rt) => {
        const routed = new RoutedListener("gateway", rt, context, "https").handle;
        return new EdgeHosts(rt, context, "https", routed, edgeOf(rt)).handle;
      },
      gate: (rt) => edgeOf(rt).accept,
    });
  }
  const p = await ProxyProcess.start({ ...o, identity, source }, listeners);
  const e = edge;
  if (e) p.dumps.set("gatewayTls", () => e.status());
  else {
    // No HTTPS listener was opened: HTTPS servers a reload adds are not served; say so once.
    let told = false;
    p.rt.config.on("reload", (snap: ConfigSnapshot) => {
      if (told || httpsServers(snap, context).length === 0) return;
      told = true;
      p.log.error(
        `Gateway ${context} now has HTTPS servers; no HTTPS listener is open: restart the gateway (or give --listen-https) to serve them`,
      );
    });
  }
  return p;
}
