/**
 * "Why did this request go there": resolves labels, routes and walks fallback for one request as
 * an outbound call from a given pod (or as a request arriving at a gateway), and returns the
 * decision with human-readable reasons. Used by `lanecar explain` and the admin API.
 */
import { ALL_AVAILABLE, type Availability } from "./endpoint/endpoint.js";
import { type ExplainedActions, egressForward, explainActions } from "./explain-actions.js";
import { type ExplainedAuthz, explainAuthz } from "./explain-authz.js";
import { splitAuthority } from "./hosts.js";
import type { CorrelationLookup, Direction, HeaderGetter } from "./label/resolver.js";
import { headerGetter, type RouteRequest } from "./route/request.js";
import type { HostSubset, RouteDecision } from "./route/router.js";
import type { ConfigSnapshot } from "./snapshot.js";

export interface ExplainInput {
  /** `METHOD URL` (`GET http://reviews:9080/reviews/0`) or just a URL (GET). */
  request: string;
  headers?: Readonly<Record<string, string>>;
  namespace?: string;
  podLabels?: Readonly<Record<string, string>>;
  /** `mesh` (default: an outbound call from the pod) or a gateway `ns/name`. */
  context?: string;
  availability?: Availability;
  correlation?: CorrelationLookup;
  rand?: () => number;
  /** The caller's mutual-TLS identity (SPIFFE ID) the destination's policies judge; absent: plaintext. */
  principal?: string;
}

export interface ExplainedEndpoint {
  address: string;
  port: number;
  labels: Record<string, string>;
  available: boolean;
}

export interface Explanation extends ExplainedActions {
  host: string;
  rule: string | null;
  labels: Record<string, string>;
  destination: HostSubset | null;
  fallback: null | { reason: string; from: HostSubset; to: HostSubset };
  endpoints: ExplainedEndpoint[];
  /**
   * What Lanecar does: `route` (proxied), `redirect`, `direct` (directResponse), `abort` (a fault
   * that aborts every request: answered by Lanecar with its status and `FI`), `noroute`.
   */
  action: string;
  /** Status Lanecar itself answers with (404 NR, 503 UH, redirect/direct codes); null when proxied. */
  status: number | null;
  flag: string | null;
  /**
   * Per destination workload and port: the AuthorizationPolicy decision and PeerAuthentication
   * mTLS mode at its sidecar, for the caller `principal` (else a plaintext request).
   * Empty when the request reaches no mesh workload (no route, redirect, external service).
   */
  authorization: ExplainedAuthz[];
  reasons: string[];
}

export class ExplainInputError extends Error {
  readonly code = "LANECAR_EXPLAIN_INPUT";
}

/** Parses `METHOD URL` into a route request. */
export function parseRequestLine(line: string, header: HeaderGetter): RouteRequest {
  const parts = line.trim().split(/\s+/);
  const [method, target] = parts.length >= 2 ? [parts[0]!.toUpperCase(), parts[1]!] : ["GET", parts[0] ?? ""];
  if (!/^[A-Z]+$/.test(method)) throw new ExplainInputError(`"${method}" is not an HTTP method`);
  let url: URL;
  if (target.startsWith("/")) {
    const host = header("host");
    if (!host)
      throw new ExplainInputError(
        `origin-form target "${target}" needs a Host header (-H "host: reviews:9080")`,
      );
    url = new URL(`http://${host}${target}`);
  } else {
    try {
      url = new URL(/^[a-z]+:\/\//i.test(target) ? target : `http://${target}`);
    } catch {
      throw new ExplainInputError(`"${target}" is not a URL such as http://reviews:9080/reviews/0`);
    }
  }
  const scheme = url.protocol.replace(":", "");
  const authority = url.host;
  const { port } = splitAuthority(authority);
  return {
    method,
    path: `${url.pathname}${url.search}`,
    authority,
    scheme,
    port: port ?? (scheme === "https" ? 443 : 80),
    header,
  };
}

function describe(hs: HostSubset | undefined | null): string {
  if (!hs) return "-";
  return hs.subset === undefined ? hs.host : `${hs.host} subset ${hs.subset}`;
}

export function explain(snapshot: ConfigSnapshot, input: ExplainInput): Explanation {
  const namespace = input.namespace ?? "default";
  const podLabels = input.podLabels ?? {};
  const context = input.context ?? "mesh";
  const avail = input.availability ?? ALL_AVAILABLE;
  const header = headerGetter(input.headers ?? {});
  const req = parseRequestLine(input.request, header);
  const direction: Direction = context === "mesh" ? "outbound" : "inbound";
  const resolver = snapshot.labelResolver(namespace, podLabels);
  const resolved = resolver.resolve(direction, header, podLabels, input.correlation);
  const reasons: string[] = [];
  for (const def of resolver.labels) {
    const v = resolved.values[def.name];
    reasons.push(
      v === undefined
        ? `label ${def.name}: no valueFrom source gave a valid value (${def.raw.join(", ")})`
        : `label ${def.name}=${v} from ${resolved.from[def.name]} (${def.origin})`,
    );
  }
  if (resolved.invalid > 0) reasons.push(`${resolved.invalid} invalid label value(s) ignored`);
  const d: RouteDecision = snapshot
    .router(context)
    .route(req, { gateway: context, namespace, podLabels }, resolved.values, avail, input.rand);
  const out: Explanation = {
    host: d.host,
    rule: d.rule,
    labels: resolved.values,
    destination: d.destination ?? null,
    fallback: d.fallback ? { reason: d.fallback.reason, from: d.fallback.from, to: d.fallback.to } : null,
    endpoints: (d.cluster?.endpoints ?? []).map((e) => ({
      address: e.address,
      port: e.port,
      labels: { ...e.labels },
      available: avail.isAvailable(e),
    })),
    action: d.kind,
    status: null,
    flag: d.flag || null,
    authorization: [],
    reasons,
    ...explainActions(d, req),
  };
  if (d.kind === "noroute") {
    out.status = 404;
    const table = snapshot.router(context).lookup(req.authority, namespace).table;
    reasons.push(
      d.rule
        ? `route ${d.rule} has no usable destination`
        : table
          ? `the VirtualService for ${d.host} has no rule matching this request: 404 NR`
          : `no VirtualService rule or service matches host ${d.host}`,
    );
    return out;
  }
  reasons.push(d.rule ? `matched rule ${d.rule}` : `no VirtualService for ${d.host}: all its endpoints`);
  if (d.kind === "redirect") {
    out.status = d.route!.spec.redirect!.redirectCode;
    reasons.push(`redirect (${out.status}) to ${out.redirect!.location}`);
    return out;
  }
  if (d.kind === "direct") {
    out.status = d.route!.spec.directResponse!.status;
    reasons.push(`direct response (${out.status})`);
    return out;
  }
  reasons.push(`destination ${describe(d.destination)}`);
  describeActions(out, reasons);
  if (d.fallback) {
    reasons.push(
      `fallback (${d.fallback.reason}): ${describe(d.fallback.from)} → ${describe(d.fallback.to)}`,
    );
  }
  // Egress to a `resolution: DNS` ServiceEntry without endpoints: the proxy resolves the host
  // itself, whether or not the registry lists a placeholder endpoint for it.
  out.forward = egressForward(snapshot, d);
  const healthy = d.healthy || out.forward !== null;
  const abort = out.fault?.abort;
  if (abort && abort.percentage >= 100 && healthy) {
    // Lanecar answers every such request itself; the upstream is never called.
    out.action = "abort";
    out.status = abort.httpStatus;
    out.flag = "FI";
    reasons.push(`fault abort (100%): answered ${abort.httpStatus} FI by Lanecar`);
    return out;
  }
  if (out.forward) {
    out.flag = null;
    const f = out.forward;
    reasons.push(
      `ServiceEntry resolution ${f.resolution}: forwarded to ${f.address}:${f.port}, resolved by DNS`,
    );
  } else if (!d.healthy) {
    out.status = 503;
    reasons.push(
      d.cluster && d.cluster.endpoints.length > 0
        ? "no available endpoint: 503 UH"
        : "no instance and no fallback for it: 503 UH",
    );
    // The proxy checks for an instance before it draws the fault.
    if (abort && abort.percentage >= 100)
      reasons.push(`fault abort ${abort.httpStatus} FI (100%) applies once an instance is available`);
  } else {
    reasons.push(
      `${out.endpoints.filter((e) => e.available).length} available endpoint(s) in ${d.cluster!.name}`,
    );
  }
  // Only a mesh workload has a sidecar that would judge the request.
  if (!out.forward && d.destination && !snapshot.isExternal(d.destination.host, namespace))
    out.authorization = explainAuthz(
      snapshot,
      d.cluster?.endpoints ?? [],
      req,
      out,
      serviceNamespace(d.destination.host, namespace),
      input.principal,
    );
  return out;
}

/** `reviews.shop.svc.cluster.local` → `shop`; other hosts → the caller's namespace. */
function serviceNamespace(host: string, namespace: string): string {
  const m = /^[^.]+\.([^.]+)\.svc(\.|$)/.exec(host);
  return m ? m[1]! : namespace;
}

function pct(p: number): string {
  return `${Number.isInteger(p) ? p : p.toFixed(2)}%`;
}

/** One reason line per action the proxy applies on this route. */
function describeActions(e: Explanation, reasons: string[]): void {
  const f = e.fault;
  if (f?.delay)
    reasons.push(`fault delay ${f.delay.fixedDelayMs}ms for ${pct(f.delay.percentage)} of requests`);
  if (f?.abort && f.abort.percentage < 100)
    reasons.push(`fault abort ${f.abort.httpStatus} FI for ${pct(f.abort.percentage)} of requests`);
  for (const m of e.mirrors)
    reasons.push(
      `mirrored to ${describe({ host: m.host, subset: m.subset ?? undefined })} (${pct(m.percentage)})`,
    );
  if (e.timeoutMs !== null) reasons.push(`timeout ${e.timeoutMs}ms`);
  if (e.retries && !e.retries.default) {
    const r = e.retries;
    reasons.push(
      r.attempts === 0
        ? "no retries"
        : `retries: ${r.attempts} attempt(s)${r.perTryTimeoutMs !== null ? `, ${r.perTryTimeoutMs}ms per try` : ""} on ${r.retryOn.join(",")}`,
    );
  }
  if (e.rewrite)
    reasons.push(
      `rewrite: path ${e.rewrite.path}${e.rewrite.authority ? `, authority ${e.rewrite.authority}` : ""}`,
    );
  if (e.headers) {
    for (const [dir, ops] of [
      ["request", e.headers.request],
      ["response", e.headers.response],
    ] as const) {
      const parts = [
        ...ops.set.map(([k, v]) => `set ${k}: ${v}`),
        ...ops.add.map(([k, v]) => `add ${k}: ${v}`),
        ...ops.remove.map((k) => `remove ${k}`),
      ];
      if (parts.length > 0) reasons.push(`${dir} headers: ${parts.join("; ")}`);
    }
  }
}
