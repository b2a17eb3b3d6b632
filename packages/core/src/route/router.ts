/**
 * The routing decision: host → route table → first matching rule → weighted destination →
 * subset (static or `$label`) → cluster, following the destination's fallback chain while the
 * cluster has no instances (`noinstances`) or none available (`noavailabled`).
 *
 * Defaults: no VirtualService for a known host routes to all its endpoints; an unknown host or
 * no matching rule is `NR` (404); a cluster with no available endpoint after fallback is `UH`
 * (503). An unresolved `$label` selects nothing, so it behaves as `noinstances`. The label a
 * request carries is never changed by a fallback.
 */

import type { Cluster } from "../endpoint/cluster.js";
import type { Availability } from "../endpoint/endpoint.js";
import type { ServiceRegistry } from "../endpoint/registry.js";
import { type HostIndex, requestHostCandidates, splitAuthority } from "../hosts.js";
import type { Headers } from "../resources/types.js";
import type { RouteContext, RouteRequest } from "./request.js";
import type {
  CompiledDestination,
  CompiledFallback,
  CompiledRoute,
  RouteTable,
  Target,
} from "./route-table.js";

export type FallbackReason = "noinstances" | "noavailabled";

export interface HostSubset {
  host: string;
  subset: string | undefined;
}

export interface FallbackInfo {
  /** Why the first hop of the chain was taken. */
  reason: FallbackReason;
  from: HostSubset;
  to: HostSubset;
  /** How many fallback targets were walked (1 for a single fallback). */
  hops: number;
}

export type DecisionKind = "route" | "redirect" | "direct" | "noroute";

export interface RouteDecision {
  kind: DecisionKind;
  /** The requested host as resolved (FQDN when known). */
  host: string;
  /** `<vs name>/<route name or index>`; null when no VirtualService applied. */
  rule: string | null;
  route: CompiledRoute | undefined;
  /** Index of the match block that matched (-1: the route has none). */
  matchIndex: number;
  /** The weighted choice, subset template resolved, before fallback. */
  destination: HostSubset | undefined;
  /** Where to send: the final cluster after fallback. */
  cluster: Cluster | undefined;
  /** The cluster has an available endpoint. */
  healthy: boolean;
  fallback: FallbackInfo | null;
  /** Header operations of the chosen destination (route-level ones are on `route.spec`). */
  destinationHeaders: Headers | undefined;
  /** Envoy response flag when Lanecar answers itself: `NR` no route, `UH` no healthy upstream. */
  flag: "" | "NR" | "UH";
}

export type Labels = Readonly<Record<string, string>>;

/** Builds a decision in one literal (same shape every time, so call sites stay monomorphic). */
function decision(
  kind: DecisionKind,
  host: string,
  route: CompiledRoute,
  matchIndex: number,
  destination: HostSubset | undefined,
  cluster: Cluster | undefined,
  healthy: boolean,
  fallback: FallbackInfo | null,
  destinationHeaders: Headers | undefined,
  flag: "" | "UH",
): RouteDecision {
  return {
    kind,
    host,
    rule: route.ruleId,
    route,
    matchIndex,
    destination,
    cluster,
    healthy,
    fallback,
    destinationHeaders,
    flag,
  };
}

function noRoute(host: string, rule: string | null, route?: CompiledRoute): RouteDecision {
  return {
    kind: "noroute",
    host,
    rule,
    route,
    matchIndex: -1,
    destination: undefined,
    cluster: undefined,
    healthy: false,
    fallback: null,
    destinationHeaders: undefined,
    flag: "NR",
  };
}

const MAX_FALLBACK_HOPS = 8;
const MAX_CACHED_AUTHORITIES = 4096;

export interface HostLookup {
  readonly host: string;
  readonly table: RouteTable | undefined;
}

export class Router {
  /** authority → lookup result, per namespace; bounded (cleared when full) against hostile Hosts. */
  private readonly lookups = new Map<string, Map<string, HostLookup>>();

  constructor(
    readonly context: string,
    private readonly tables: HostIndex<RouteTable>,
    private readonly registry: ServiceRegistry,
  ) {}

  /** Finds the route table and resolved host for a request authority (cached). */
  lookup(authority: string, namespace: string): HostLookup {
    let byNs = this.lookups.get(namespace);
    if (!byNs) this.lookups.set(namespace, (byNs = new Map()));
    let hit = byNs.get(authority);
    if (!hit) {
      if (byNs.size >= MAX_CACHED_AUTHORITIES) byNs.clear();
      hit = this.resolveHost(authority, namespace);
      byNs.set(authority, hit);
    }
    return hit;
  }

  private resolveHost(authority: string, namespace: string): HostLookup {
    const { host } = splitAuthority(authority);
    const candidates = requestHostCandidates(host, namespace);
    for (const c of candidates) {
      if (this.tables.has(c)) return { host: c, table: this.tables.get(c) };
    }
    // A known service without a VirtualService of its own is still covered by a wildcard one
    // (`*.ns.svc.cluster.local`, `*.example.com`, `*` at gateways), as Istio applies it; else its default route.
    for (const c of candidates)
      if (this.registry.hasService(c)) return { host: c, table: this.tables.get(c) };
    // Wildcard VirtualService hosts for hosts no service defines.
    const wild = this.tables.get(host);
    if (wild) return { host, table: wild };
    for (const c of candidates) {
      const w = this.tables.get(c);
      if (w) return { host: c, table: w };
    }
    return { host: candidates[0] ?? host, table: undefined };
  }

  route(
    req: RouteRequest,
    ctx: RouteContext,
    labels: Labels,
    avail: Availability,
    rand: () => number = Math.random,
  ): RouteDecision {
    const { host, table } = this.lookup(req.authority, ctx.namespace);
    if (!table) {
      // Sidecars route any known service; a gateway serves only hosts its VirtualServices cover.
      if (this.context !== "mesh" || !this.registry.hasService(host)) return noRoute(host, null);
      const cluster = this.registry.cluster(host, req.port, undefined);
      if (!cluster) return noRoute(host, null);
      const healthy = cluster.endpoints.length > 0 && cluster.anyAvailable(avail);
      return {
        kind: "route",
        host,
        rule: null,
        route: undefined,
        matchIndex: -1,
        destination: { host, subset: undefined },
        cluster,
        healthy,
        fallback: null,
        destinationHeaders: undefined,
        flag: healthy ? "" : "UH",
      };
    }
    const q = req.path.indexOf("?");
    const uriPath = q >= 0 ? req.path.slice(0, q) : req.path;
    let query: URLSearchParams | undefined;
    const routes = table.routes;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      let matchIndex = -1;
      if (r.matches.length > 0) {
        if (r.needsQuery && query === undefined)
          query = new URLSearchParams(q >= 0 ? req.path.slice(q + 1) : "");
        for (let m = 0; m < r.matches.length; m++) {
          if (r.matches[m]!.test(req, uriPath, query, ctx)) {
            matchIndex = m;
            break;
          }
        }
        if (matchIndex < 0) continue;
      }
      return this.decide(host, r, matchIndex, req, labels, avail, rand);
    }
    return noRoute(host, null);
  }

  private decide(
    host: string,
    r: CompiledRoute,
    matchIndex: number,
    req: RouteRequest,
    labels: Labels,
    avail: Availability,
    rand: () => number,
  ): RouteDecision {
    if (r.spec.redirect)
      return decision("redirect", host, r, matchIndex, undefined, undefined, false, null, undefined, "");
    if (r.spec.directResponse)
      return decision("direct", host, r, matchIndex, undefined, undefined, false, null, undefined, "");
    const d = pickWeighted(r, rand);
    if (!d) return noRoute(host, r.ruleId, r);
    const port = d.port ?? req.port;
    const subset = resolveSubset(d, labels);
    const destination: HostSubset = {
      host: d.host,
      subset: d.template !== undefined ? (subset ?? `$${d.template}`) : subset,
    };
    // An unresolved `$label` asks for the subset "" that no service has: no instances.
    let cluster = this.registry.cluster(d.host, port, d.template !== undefined ? (subset ?? "") : subset);
    let fallback: FallbackInfo | null = null;
    let firstReason: FallbackReason | undefined;
    let fb: CompiledFallback | undefined = d.fallback;
    let hops = 0;
    for (;;) {
      const hasInstances = cluster !== undefined && cluster.endpoints.length > 0;
      if (hasInstances && cluster!.anyAvailable(avail)) {
        return decision("route", host, r, matchIndex, destination, cluster, true, fallback, d.headers, "");
      }
      const reason: FallbackReason = hasInstances ? "noavailabled" : "noinstances";
      if (!fb?.[reason] || hops >= MAX_FALLBACK_HOPS) {
        return decision("route", host, r, matchIndex, destination, cluster, false, fallback, d.headers, "UH");
      }
      hops++;
      const t = fb.target;
      const tSubset = resolveSubset(t, labels);
      const tPort = t.port ?? port;
      cluster = this.registry.cluster(t.host, tPort, t.template !== undefined ? (tSubset ?? "") : tSubset);
      firstReason ??= reason;
      // Like `from`, an unresolved `$label` target shows as `$label`, not as "every instance".
      const toSubset = t.template !== undefined ? (tSubset ?? `$${t.template}`) : tSubset;
      fallback = { reason: firstReason, from: destination, to: { host: t.host, subset: toSubset }, hops };
      fb = fb.next;
    }
  }

  /** The cluster a mirror (or any target) resolves to for these labels; undefined if none. */
  clusterFor(t: Target, port: number | undefined, labels: Labels): Cluster | undefined {
    const subset = resolveSubset(t, labels);
    if (t.template !== undefined && subset === undefined) return undefined;
    return this.registry.cluster(t.host, t.port ?? port, subset);
  }
}

function resolveSubset(t: Target, labels: Labels): string | undefined {
  return t.template !== undefined ? labels[t.template] : t.subset;
}

/** Weighted choice among a route's destinations; `rand` returns [0, 1). */
export function pickWeighted(r: CompiledRoute, rand: () => number): CompiledDestination | undefined {
  const ds = r.destinations;
  if (ds.length === 1) return ds[0];
  if (r.totalWeight <= 0) return undefined;
  const x = rand() * r.totalWeight;
  const cum = r.cumulative;
  for (let i = 0; i < ds.length; i++) if (x < cum[i]!) return ds[i];
  return ds[ds.length - 1];
}
