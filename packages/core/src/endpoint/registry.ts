/**
 * The service registry of one snapshot: services from ServiceEntries, their instances (inline
 * endpoints or WorkloadEntries picked by `workloadSelector`), probes from WorkloadGroups, and the
 * DestinationRules that cut them into subsets; plus services discovered from a platform
 * (Kubernetes Services and EndpointSlices), whose instances carry their own readiness. Subsets
 * resolve to clusters on demand, cached.
 */
import { fqdn } from "../hosts.js";
import { labelSelectorMatches } from "../label/resolver.js";
import { LOCAL_LABEL } from "../label/value-from.js";
import type {
  DestinationRuleSpec,
  Probe,
  ServiceEntrySpec,
  ServicePort,
  WorkloadEntrySpec,
  WorkloadGroupSpec,
} from "../resources/types.js";
import { Cluster, mergePolicy, type Service } from "./cluster.js";
import { DestinationRules, type ResolvedDestinationRule } from "./destination-rules.js";
import { type Endpoint, endpointKey } from "./endpoint.js";

interface Instance {
  spec: WorkloadEntrySpec;
  origin: string;
  probe: Probe | undefined;
  ready: boolean;
}

/** One discovered instance: a WorkloadEntry-like address with the platform's readiness. */
export interface DiscoveredInstance extends WorkloadEntrySpec {
  /** false: known but not ready (Kubernetes `ready: false`): counts as an instance, never picked. */
  ready: boolean;
  /** `Pod/ns/name` or `EndpointSlice/ns/name`. */
  origin: string;
}

/** A service discovered from a platform registry (a Kubernetes Service and its EndpointSlices). */
export interface DiscoveredService {
  /** FQDN. */
  host: string;
  namespace: string;
  ports: ServicePort[];
  instances: DiscoveredInstance[];
  /** `Service/ns/name`. */
  origin: string;
}

/** How the proxy resolves an endpoint address that is a name (ServiceEntry `resolution`). */
export type DnsResolution = "DNS" | "DNS_ROUND_ROBIN";

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** An IP literal (IPv4 dotted quad, or anything with a colon: IPv6), not a name to resolve. */
function isIpLiteral(address: string): boolean {
  return IPV4.test(address) || address.includes(":");
}

interface ServiceRecord {
  service: Service;
  instances: Instance[];
  /** Names a `$label` value may select: DestinationRule subsets and ASM_TRAFFIC_TAG values. */
  lanes: Set<string>;
  /** Built clusters by `port|subset`. */
  clusters: Map<string, Cluster>;
  /** The shared empty cluster of unknown lanes, per service port. */
  empty: Map<number, Cluster>;
}

export interface Named<S> {
  id: string;
  namespace: string;
  name: string;
  spec: S;
}

const EMPTY: readonly Endpoint[] = Object.freeze([]);
/** How many subset names (known or not) one host+port may cache. */
const MAX_CACHED_UNKNOWN_LANES = 256;
/** Cache key for "no subset" (cannot collide with a subset name). */
const ALL = "\0all";

export class ServiceRegistry {
  private readonly services = new Map<string, ServiceRecord>();
  private readonly rules: DestinationRules;
  /** host → requested port → subset → cluster (hot-path cache, see `cluster`). */
  private readonly clusterCache = new Map<string, Map<number, Map<string, Cluster>>>();
  /** Endpoint names the proxy resolves itself, with their ServiceEntry's resolution. */
  private readonly dns = new Map<string, DnsResolution>();

  constructor(input: {
    serviceEntries: readonly Named<ServiceEntrySpec>[];
    workloadEntries: readonly Named<WorkloadEntrySpec>[];
    workloadGroups: readonly Named<WorkloadGroupSpec>[];
    destinationRules: readonly Named<DestinationRuleSpec>[];
    discovered?: readonly DiscoveredService[];
  }) {
    const probeFor = (ns: string, labels: Record<string, string>): Probe | undefined => {
      for (const g of input.workloadGroups) {
        if (g.namespace !== ns || !g.spec.probe) continue;
        if (Object.keys(g.spec.labels).length > 0 && labelSelectorMatches(g.spec.labels, labels))
          return g.spec.probe;
      }
      return undefined;
    };
    for (const se of input.serviceEntries) {
      const instances: Instance[] = [];
      if (se.spec.workloadSelector) {
        for (const we of input.workloadEntries) {
          if (
            we.namespace === se.namespace &&
            labelSelectorMatches(se.spec.workloadSelector, we.spec.labels)
          ) {
            instances.push({
              spec: we.spec,
              origin: we.id,
              probe: probeFor(we.namespace, we.spec.labels),
              ready: true,
            });
          }
        }
      } else {
        for (const ep of se.spec.endpoints)
          instances.push({ spec: ep, origin: se.id, probe: probeFor(se.namespace, ep.labels), ready: true });
      }
      const res = se.spec.resolution;
      // DNS / DNS_ROUND_ROBIN without endpoints resolve the hosts themselves (Istio). NONE without
      // endpoints on an external service forwards to the host the app asked for, resolved as the
      // app would resolve it; an internal one stays without instances, so lanes fall back.
      const dnsRes = res === "DNS" || res === "DNS_ROUND_ROBIN";
      const fromHosts =
        !se.spec.workloadSelector &&
        se.spec.endpoints.length === 0 &&
        (dnsRes || (res === "NONE" && se.spec.location === "MESH_EXTERNAL"));
      if (dnsRes) {
        for (const i of instances) if (!isIpLiteral(i.spec.address)) this.dns.set(i.spec.address, res);
      }
      for (const h of se.spec.hosts) {
        const host = fqdn(h, se.namespace);
        let own = instances;
        if (fromHosts && !h.includes("*")) {
          const address = h.toLowerCase().replace(/\.$/, "");
          own = [
            {
              spec: { address, ports: {}, labels: {}, weight: 1 },
              origin: se.id,
              probe: undefined,
              ready: true,
            },
          ];
          if ((res === "DNS" || res === "DNS_ROUND_ROBIN") && !isIpLiteral(address))
            this.dns.set(address, res);
        }
        const existing = this.services.get(host);
        if (existing) {
          existing.instances.push(...own);
          continue;
        }
        this.services.set(host, {
          service: {
            host,
            namespace: se.namespace,
            ports: se.spec.ports,
            location: se.spec.location,
            origin: se.id,
            subjectAltNames: se.spec.subjectAltNames,
          },
          instances: [...own],
          lanes: new Set(),
          clusters: new Map(),
          empty: new Map(),
        });
      }
    }
    for (const ds of input.discovered ?? []) {
      const instances: Instance[] = ds.instances.map((i) => ({
        spec: i,
        origin: i.origin,
        probe: undefined,
        ready: i.ready,
      }));
      const existing = this.services.get(ds.host);
      if (existing) {
        // A ServiceEntry (or another cluster) already defines the host: instances add up.
        existing.instances.push(...instances);
        continue;
      }
      this.services.set(ds.host, {
        service: {
          host: ds.host,
          namespace: ds.namespace,
          ports: ds.ports,
          location: "MESH_INTERNAL",
          origin: ds.origin,
        },
        instances,
        lanes: new Set(),
        clusters: new Map(),
        empty: new Map(),
      });
    }
    this.rules = new DestinationRules(
      input.destinationRules.map((dr) => ({ id: dr.id, namespace: dr.namespace, spec: dr.spec })),
    );
    for (const rec of this.services.values()) {
      for (const i of rec.instances) {
        const lane = i.spec.labels[LOCAL_LABEL];
        if (lane) rec.lanes.add(lane);
      }
      for (const name of this.rules.subsetNames(rec.service.host)) rec.lanes.add(name);
    }
  }

  /**
   * Names the workload this registry serves (a proxy serves one), for DestinationRules with a
   * `workloadSelector` (destination-rules.ts). Clusters built before are dropped when what the
   * workload sees changes.
   */
  scopeTo(namespace: string, labels: Readonly<Record<string, string>>): void {
    if (!this.rules.scopeTo(namespace, labels)) return;
    this.clusterCache.clear();
    for (const rec of this.services.values()) {
      rec.clusters.clear();
      rec.empty.clear();
    }
  }

  /**
   * Endpoint addresses that are names under `resolution: DNS` or `DNS_ROUND_ROBIN`: the proxy
   * resolves and re-resolves these itself. Other names (NONE, STATIC) are looked up by the
   * system resolver on every new connection.
   */
  dnsNames(): ReadonlyMap<string, DnsResolution> {
    return this.dns;
  }

  service(host: string): Service | undefined {
    return this.services.get(host)?.service;
  }

  hasService(host: string): boolean {
    return this.services.has(host);
  }

  allServices(): Service[] {
    return [...this.services.values()].map((r) => r.service);
  }

  destinationRule(host: string): ResolvedDestinationRule | undefined {
    return this.rules.get(host);
  }

  /** Is `subset` defined for `host` by a DestinationRule? */
  hasSubset(host: string, subset: string): boolean {
    return this.rules.get(host)?.spec.subsets.some((s) => s.name === subset) ?? false;
  }

  /** The service port a request to `port` uses: the declared one, else the only one. */
  servicePort(service: Service, port: number | undefined): ServicePort | undefined {
    if (port !== undefined) {
      const p = service.ports.find((sp) => sp.number === port);
      if (p) return p;
    }
    return service.ports.length === 1 || port === undefined ? service.ports[0] : undefined;
  }

  /**
   * The cluster for (host, port, subset). Subset `undefined` = every instance. A subset name the
   * DestinationRule defines selects by its labels; otherwise (for `$label` values) a name that is
   * some instance's ASM_TRAFFIC_TAG selects those instances; any other name selects nothing.
   *
   * Hot path: nested maps keyed by the strings and numbers the caller already holds, so a hit
   * builds no key string. Unknown lanes share one empty cluster per service port and are never
   * cached by name, so client-chosen values cannot grow memory.
   */
  cluster(host: string, port: number | undefined, subset: string | undefined): Cluster | undefined {
    const hit = this.clusterCache
      .get(host)
      ?.get(port ?? 0)
      ?.get(subset ?? ALL);
    return hit ?? this.buildCluster(host, port, subset);
  }

  private buildCluster(
    host: string,
    port: number | undefined,
    subset: string | undefined,
  ): Cluster | undefined {
    const rec = this.services.get(host);
    if (!rec) return undefined;
    const sp = this.servicePort(rec.service, port);
    if (!sp) return undefined;
    const dr = this.rules.get(host);
    const basePolicy = mergePolicy(dr?.spec.trafficPolicy, undefined, sp.number);
    if (subset !== undefined && !rec.lanes.has(subset)) {
      let empty = rec.empty.get(sp.number);
      if (!empty) {
        empty = new Cluster(rec.service, sp, "", EMPTY, basePolicy);
        rec.empty.set(sp.number, empty);
      }
      // Remember unknown lanes too (a fallback hop hits them on every request), up to a bound so
      // client-chosen values cannot grow memory.
      if (subset === "" || this.cachedSubsets(host, port) < MAX_CACHED_UNKNOWN_LANES)
        this.remember(host, port, subset, empty);
      return empty;
    }
    const key = `${sp.number}|${subset ?? ""}`;
    let cluster = rec.clusters.get(key);
    if (!cluster) {
      let policy = basePolicy;
      let selector: Record<string, string> | undefined;
      if (subset !== undefined) {
        const def = dr?.spec.subsets.find((s) => s.name === subset);
        if (def) {
          selector = def.labels;
          policy = mergePolicy(dr?.spec.trafficPolicy, def.trafficPolicy, sp.number);
        } else selector = { [LOCAL_LABEL]: subset };
      }
      const endpoints: Endpoint[] = [];
      for (const i of rec.instances) {
        if (selector && !labelSelectorMatches(selector, i.spec.labels)) continue;
        const epPort = i.spec.ports[sp.name] ?? sp.targetPort ?? sp.number;
        endpoints.push(
          Object.freeze({
            key: endpointKey(i.spec.address, epPort),
            address: i.spec.address,
            port: epPort,
            labels: i.spec.labels,
            weight: i.spec.weight,
            probe: i.probe,
            origin: i.origin,
            ready: i.ready,
            serviceAccount: i.spec.serviceAccount,
          }),
        );
      }
      cluster = new Cluster(rec.service, sp, subset, Object.freeze(endpoints), policy);
      rec.clusters.set(key, cluster);
    }
    this.remember(host, port, subset, cluster);
    return cluster;
  }

  private cachedSubsets(host: string, port: number | undefined): number {
    return this.clusterCache.get(host)?.get(port ?? 0)?.size ?? 0;
  }

  private remember(host: string, port: number | undefined, subset: string | undefined, c: Cluster): void {
    let byPort = this.clusterCache.get(host);
    if (!byPort) this.clusterCache.set(host, (byPort = new Map()));
    let bySubset = byPort.get(port ?? 0);
    if (!bySubset) byPort.set(port ?? 0, (bySubset = new Map()));
    bySubset.set(subset ?? ALL, c);
  }

  /** Every endpoint of every service once (health checking walks this). */
  allEndpoints(): Endpoint[] {
    const seen = new Map<string, Endpoint>();
    for (const rec of this.services.values()) {
      for (const sp of rec.service.ports) {
        const c = this.cluster(rec.service.host, sp.number, undefined);
        for (const ep of c?.endpoints ?? []) if (!seen.has(ep.key)) seen.set(ep.key, ep);
      }
    }
    return [...seen.values()];
  }
}
