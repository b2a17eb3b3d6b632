/**
 * VirtualServices compiled into immutable route tables, one per listener context (`mesh`, or a
 * gateway). Everything a request needs is prepared here: matchers, weight tables, resolved hosts,
 * `$label` templates and fallback chains, so routing a request only reads.
 */
import { fqdn, HostIndex } from "../hosts.js";
import type { Fallback, Headers, HTTPRetry, HTTPRoute, VirtualServiceSpec } from "../resources/types.js";
import { DEFAULT_RETRY, subsetTemplate } from "../resources/virtual-service.js";
import { prepareRewrite } from "./actions.js";
import { type CompiledMatch, compileMatch } from "./match.js";

/** A destination host + subset, where the subset may be a `$label` template. */
export interface Target {
  /** FQDN. */
  readonly host: string;
  /** Static subset name. */
  readonly subset: string | undefined;
  /** Label name when the subset is `$label`. */
  readonly template: string | undefined;
  readonly port: number | undefined;
}

export interface CompiledFallback {
  readonly noinstances: boolean;
  readonly noavailabled: boolean;
  readonly target: Target;
  readonly next: CompiledFallback | undefined;
}

export interface CompiledDestination extends Target {
  readonly weight: number;
  readonly headers: Headers | undefined;
  readonly fallback: CompiledFallback | undefined;
}

export interface CompiledRoute {
  /** `<vs name>/<route name or index>`. */
  readonly ruleId: string;
  readonly index: number;
  readonly virtualService: { name: string; namespace: string };
  readonly spec: HTTPRoute;
  /** Empty = matches every request. */
  readonly matches: readonly CompiledMatch[];
  readonly needsQuery: boolean;
  readonly destinations: readonly CompiledDestination[];
  /** Cumulative weights, same order as destinations. */
  readonly cumulative: readonly number[];
  readonly totalWeight: number;
  /** The route's retry policy, or Istio's default when it sets none. */
  readonly retries: HTTPRetry;
  readonly mirrors: readonly { target: Target; percentage: number }[];
}

export interface RouteTable {
  /** The VirtualService host pattern (FQDN or wildcard) this table serves. */
  readonly host: string;
  readonly routes: readonly CompiledRoute[];
}

export function toTarget(
  d: { host: string; subset?: string; port?: { number: number } },
  namespace: string,
): Target {
  // Label names are header names: case-insensitive, kept lower-case like the resolver's.
  const template = subsetTemplate(d.subset)?.toLowerCase();
  return {
    host: fqdn(d.host, namespace),
    subset: template === undefined ? d.subset : undefined,
    template,
    port: d.port?.number,
  };
}

function compileFallback(f: Fallback | undefined, namespace: string): CompiledFallback | undefined {
  if (!f) return undefined;
  return {
    noinstances: f.noinstances,
    noavailabled: f.noavailabled,
    target: toTarget(f.target, namespace),
    next: compileFallback(f.target.fallback, namespace),
  };
}

/** Gateway names as written in a VS (`name` or `ns/name`) → `ns/name`; `mesh` stays `mesh`. */
export function qualifyGateway(g: string, namespace: string): string {
  if (g === "mesh") return g;
  return g.includes("/") ? g : `${namespace}/${g}`;
}

export interface VirtualServiceInput {
  name: string;
  namespace: string;
  spec: VirtualServiceSpec;
}

function compileRoute(
  vs: VirtualServiceInput,
  r: HTTPRoute,
  index: number,
  context: string,
): CompiledRoute | undefined {
  if (r.delegated) return undefined;
  const ns = vs.namespace;
  // Match blocks restricted to other gateways do not exist in this context.
  const blocks = r.match.filter(
    (m) => !m.gateways || m.gateways.some((g) => qualifyGateway(g, ns) === context),
  );
  if (r.match.length > 0 && blocks.length === 0) return undefined;
  const destinations: CompiledDestination[] = r.route.map((d) => ({
    ...toTarget(d.destination, ns),
    weight: d.weight,
    headers: d.headers,
    fallback: compileFallback(d.fallback, ns),
  }));
  const cumulative: number[] = [];
  let total = 0;
  for (const d of destinations) {
    total += d.weight;
    cumulative.push(total);
  }
  const matches = blocks.map(compileMatch);
  prepareRewrite(r.rewrite);
  return {
    ruleId: `${vs.name}/${r.name ?? index}`,
    index,
    virtualService: { name: vs.name, namespace: ns },
    spec: r,
    matches,
    needsQuery: matches.some((m) => m.needsQuery),
    destinations,
    cumulative,
    totalWeight: total,
    retries: r.retries ?? DEFAULT_RETRY,
    mirrors: r.mirrors.map((m) => ({ target: toTarget(m.destination, ns), percentage: m.percentage })),
  };
}

/**
 * Builds the host → route table index for one context. When two VirtualServices claim the same
 * host in one context, the first (in config order) wins, as Istio keeps the oldest; validation
 * warns about it.
 */
export function buildRouteTables(
  virtualServices: readonly VirtualServiceInput[],
  context: string,
): HostIndex<RouteTable> {
  const index = new HostIndex<RouteTable>();
  for (const vs of virtualServices) {
    const gateways = vs.spec.gateways.map((g) => qualifyGateway(g, vs.namespace));
    if (!gateways.includes(context)) continue;
    const routes: CompiledRoute[] = [];
    vs.spec.http.forEach((r, i) => {
      const cr = compileRoute(vs, r, i, context);
      if (cr) routes.push(cr);
    });
    for (const h of vs.spec.hosts) {
      const host = fqdn(h, vs.namespace);
      index.set(host, { host, routes });
    }
  }
  return index;
}
