/**
 * The actions `explain` reports besides the destination: everything the proxy applies to the
 * request on the chosen route — fault delay and abort with their percentages, mirrors, timeout,
 * retries, rewrite, redirect, header operations — and, for egress to a ServiceEntry without
 * endpoints, where the request is forwarded (by DNS or to the address the app asked for).
 * Pure reads of the compiled route; the same functions the proxy calls compute the values.
 */
import type { HeaderOps } from "./resources/types.js";
import type { ValidResource } from "./resources/validate.js";
import { headerOps, redirectLocation, rewritePath } from "./route/actions.js";
import type { RouteRequest } from "./route/request.js";
import type { RouteDecision } from "./route/router.js";
import type { ConfigSnapshot } from "./snapshot.js";

export interface ExplainedFault {
  delay: { fixedDelayMs: number; percentage: number } | null;
  abort: { httpStatus: number; percentage: number } | null;
}

export interface ExplainedActions {
  fault: ExplainedFault | null;
  mirrors: { host: string; subset: string | null; percentage: number }[];
  /** The route timeout; null when none applies (Istio's default: no timeout). */
  timeoutMs: number | null;
  /** The retry policy; `default` when the route sets none and Istio's default applies. */
  retries: { attempts: number; perTryTimeoutMs: number | null; retryOn: string[]; default: boolean } | null;
  /** Path and authority sent upstream when the route rewrites them. */
  rewrite: { path: string; authority: string | null } | null;
  redirect: { status: number; location: string } | null;
  directResponse: { status: number; body: string | null } | null;
  headers: { request: HeaderOps; response: HeaderOps } | null;
  /** Egress to a `resolution: DNS` ServiceEntry with no endpoints: the host the proxy resolves. */
  forward: { address: string; port: number; resolution: string } | null;
}

const NO_ACTIONS: ExplainedActions = {
  fault: null,
  mirrors: [],
  timeoutMs: null,
  retries: null,
  rewrite: null,
  redirect: null,
  directResponse: null,
  headers: null,
  forward: null,
};

function hasOps(o: HeaderOps): boolean {
  return o.set.length > 0 || o.add.length > 0 || o.remove.length > 0;
}

export function explainActions(d: RouteDecision, req: RouteRequest): ExplainedActions {
  const out: ExplainedActions = { ...NO_ACTIONS, mirrors: [] };
  const r = d.route;
  if (!r) return out;
  const spec = r.spec;
  const prefix = d.matchIndex >= 0 ? r.matches[d.matchIndex]?.uriPrefix : undefined;
  if (spec.redirect) {
    out.redirect = {
      status: spec.redirect.redirectCode,
      location: redirectLocation(spec.redirect, req, prefix),
    };
    return out;
  }
  if (spec.directResponse) {
    out.directResponse = { status: spec.directResponse.status, body: spec.directResponse.body ?? null };
    return out;
  }
  if (spec.fault && (spec.fault.delay || spec.fault.abort))
    out.fault = { delay: spec.fault.delay ?? null, abort: spec.fault.abort ?? null };
  out.mirrors = r.mirrors.map((m) => ({
    host: m.target.host,
    subset: m.target.template !== undefined ? `$${m.target.template}` : (m.target.subset ?? null),
    percentage: m.percentage,
  }));
  out.timeoutMs = spec.timeoutMs !== undefined && spec.timeoutMs > 0 ? spec.timeoutMs : null;
  out.retries = {
    attempts: r.retries.attempts,
    perTryTimeoutMs: r.retries.perTryTimeoutMs ?? null,
    retryOn: [...r.retries.retryOn],
    default: spec.retries === undefined,
  };
  if (spec.rewrite)
    out.rewrite = {
      path: rewritePath(spec.rewrite, req.path, prefix),
      authority: spec.rewrite.authority ?? null,
    };
  const ops = headerOps(r, d.destinationHeaders);
  if (hasOps(ops.request) || hasOps(ops.response)) out.headers = ops;
  return out;
}

/**
 * Egress to a ServiceEntry with no endpoints: `DNS`/`DNS_ROUND_ROBIN` forward to the host
 * itself, resolved by the system resolver (`NONE` and `STATIC` are left to the registry: what
 * the proxy does for them is what the cluster says). Decided from
 * the ServiceEntry, not from the cluster, so a registry that lists the host as a placeholder
 * endpoint gives the same answer.
 */
export function egressForward(snapshot: ConfigSnapshot, d: RouteDecision): ExplainedActions["forward"] {
  const cluster = d.cluster;
  if (!cluster || d.fallback || d.destination?.subset !== undefined) return null;
  const se = snapshot.resources.find((r) => r.id === cluster.service.origin) as
    | ValidResource<"ServiceEntry">
    | undefined;
  if (se?.kind !== "ServiceEntry" || se.spec.endpoints.length > 0 || se.spec.workloadSelector) return null;
  const res = se.spec.resolution;
  const port = cluster.port.targetPort ?? cluster.port.number;
  if ((res === "DNS" || res === "DNS_ROUND_ROBIN") && !cluster.service.host.startsWith("*"))
    return { address: cluster.service.host, port, resolution: res };
  return null;
}
