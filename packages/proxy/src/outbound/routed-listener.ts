/**
 * The routed data path shared by the sidecar's outbound listener and the gateway:
 * destination → labels → route → endpoint → upstream. The outbound listener serves the app's
 * calls (absolute-form target or Host header; labels from the outbound request, the correlation
 * store and pod labels); the gateway serves requests from outside (labels from the inbound
 * request, `x-request-id` generated when missing). Everything else is the same path.
 */
import { randomUUID } from "node:crypto";
import {
  type ConfigSnapshot,
  DEFAULT_RETRY,
  type Direction,
  decideFault,
  type Endpoint,
  type HeaderOps,
  hashKeyFor,
  headerOps,
  isValidLabelValue,
  type LabelResolver,
  type ResolvedLabels,
  type RouteContext,
  type RouteDecision,
  type RouteRequest,
  type Router,
  redirectLocation,
  rewritePath,
  sampleMirror,
  splitAuthority,
} from "@lanecar/core";
import type { Span } from "@opentelemetry/api";
import { edgeLaneLabels, LaneGuard, stripLaneBaggage } from "../gateway/lane-guard.js";
import { LANE_TOKEN_HEADER } from "../gateway/lane-token.js";
import type { DownstreamStream } from "../http/downstream.js";
import { LOCAL_REPLIES, type ResponseFlag, sendLocalReply } from "../http/local-reply.js";
import { copyRequestHeaders, rawHeader, rawHeaderGetter, removeHeader } from "../http/raw-headers.js";
import { setLaneBaggage } from "../propagation/lane-baggage.js";
import type { ProxyRuntime } from "../runtime.js";
import { MESH_HEADERS, SourceEdges } from "../telemetry/edges.js";
import { PEER_METADATA_HEADER } from "../telemetry/peer-metadata.js";
import { applyOps, Exchange, type ExchangeOwner } from "../upstream/exchange.js";
import { retryPolicy } from "../upstream/retry-policy.js";

interface Plan {
  router: Router;
  resolver: LabelResolver;
  ctx: RouteContext;
  /** Label header names the proxy owns (always replaced, never passed through). */
  owned: ReadonlySet<string>;
  /**
   * Names never forwarded: the owned labels, Lanecar's mesh headers (peer metadata, probe marker:
   * only this proxy writes them), plus the lane token header at the gateway.
   */
  dropped: ReadonlySet<string>;
  /** Gateway only: client-sent lanes count only when a route or a token grants them. */
  guard: LaneGuard | undefined;
}

interface RouteState {
  plan: Plan;
  req: RouteRequest;
  labels: Readonly<Record<string, string>>;
  decision: RouteDecision;
  lane: string;
  span: Span | undefined;
}

const NO_LABELS: ResolvedLabels = { values: {}, invalid: 0, from: {} };

/** The lane a request is in: the value of its first label, `none` without one. */
function laneOf(labels: Readonly<Record<string, string>>): string {
  for (const k in labels) return labels[k]!;
  return "none";
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  for (const k in a) if (a[k] !== b[k]) return false;
  for (const k in b) if (!(k in a)) return false;
  return true;
}

const ownedSetCache = new WeakMap<HeaderOps, Record<string, string> | null>();

/** The label values a header operation sets for owned label names (cached per operation). */
function ownedSets(ops: HeaderOps, owned: ReadonlySet<string>): Record<string, string> | null {
  let hit = ownedSetCache.get(ops);
  if (hit === undefined) {
    hit = null;
    for (const [name, value] of [...ops.set, ...ops.add]) {
      if (owned.has(name) && isValidLabelValue(value)) (hit ??= {})[name] = value;
    }
    ownedSetCache.set(ops, hit);
  }
  return hit;
}

export type ListenerKind = "outbound" | "gateway";

export class RoutedListener implements ExchangeOwner {
  private plans = new WeakMap<ConfigSnapshot, Plan>();
  private readonly direction: Direction;
  private readonly edges: SourceEdges;

  constructor(
    readonly kind: ListenerKind,
    private readonly rt: ProxyRuntime,
    /** `mesh` for the sidecar; `ns/name` of the Gateway. */
    private readonly context: string,
    /** `https` on the gateway's TLS listener (VirtualService `scheme` matches, redirects). */
    private readonly scheme: "http" | "https" = "http",
  ) {
    this.direction = kind === "outbound" ? "outbound" : "inbound";
    this.edges = new SourceEdges(rt.metrics, rt.identity);
  }

  get health() {
    return this.rt.health;
  }
  get pools() {
    return this.rt.pools;
  }

  private plan(snap: ConfigSnapshot): Plan {
    let p = this.plans.get(snap);
    if (!p) {
      const id = this.rt.identity;
      const resolver = snap.labelResolver(id.namespace, id.podLabels);
      const gateway = this.kind === "gateway";
      const names = resolver.labels.map((l) => l.name);
      const owned = gateway ? edgeLaneLabels(snap, names) : new Set(names);
      p = {
        router: snap.router(this.context),
        resolver,
        ctx: { gateway: this.context, namespace: id.namespace, podLabels: id.podLabels },
        owned,
        dropped: new Set([...owned, ...MESH_HEADERS, ...(gateway ? [LANE_TOKEN_HEADER] : [])]),
        guard: gateway ? new LaneGuard(owned, this.rt.laneTokens) : undefined,
      };
      this.plans.set(snap, p);
    }
    return p;
  }

  /** The request handler of the listener's server. */
  readonly handle = (req: DownstreamStream): void => {
    const res = req;
    const plan = this.plan(this.rt.config.current);
    const raw = req.rawHeaders;
    let authority: string | undefined;
    let path = req.url;
    if (path.charCodeAt(0) !== 47 /* / */) {
      // Absolute form (the app uses HTTP_PROXY): http://host[:port]/path
      if (!path.startsWith("http://")) {
        sendLocalReply(res, 400, "DPE", "only http:// absolute-form targets are proxied");
        return;
      }
      const slash = path.indexOf("/", 7);
      authority = slash < 0 ? path.slice(7) : path.slice(7, slash);
      path = slash < 0 ? "/" : path.slice(slash);
    } else authority = rawHeader(raw, "host");
    if (!authority) {
      sendLocalReply(res, 400, "DPE", "missing Host header");
      return;
    }
    let getter = rawHeaderGetter(raw);
    let requestId: string | undefined;
    if (this.kind === "gateway" && getter("x-request-id") === undefined) {
      // The edge generates x-request-id, as Envoy does, so every hop can correlate.
      requestId = randomUUID();
      const base = getter;
      getter = (n) => (n === "x-request-id" ? requestId : base(n));
    }
    const id = this.rt.identity;
    const guard = plan.guard;
    const resolved = plan.resolver.empty
      ? NO_LABELS
      : plan.resolver.resolve(
          this.direction,
          guard ? guard.trusted(getter) : getter,
          id.podLabels,
          this.direction === "outbound" ? this.rt.correlation.lookup : undefined,
        );
    if (resolved.invalid > 0) this.rt.metrics.invalidLabels(resolved.invalid);
    const { port } = splitAuthority(authority);
    const method = req.method;
    const view: RouteRequest = {
      method,
      path,
      authority,
      scheme: this.scheme,
      port: port ?? (this.kind === "gateway" ? req.localPort : 80),
      header: getter,
      sourceIp: req.remoteAddress,
    };
    let d = plan.router.route(view, plan.ctx, resolved.values, this.rt.health);
    let labels = resolved.values;
    if (guard && d.route) {
      // Matching does not depend on labels: route again only if the matched rule granted a lane.
      const granted = guard.grant(labels, d.route, d.matchIndex, getter);
      if (!sameLabels(granted, labels)) {
        labels = granted;
        d = plan.router.route(view, plan.ctx, labels, this.rt.health);
      }
    }
    const lane = laneOf(labels);
    const span = this.rt.tracer?.start(`${this.kind} ${authority}`, getter);
    const state: RouteState = { plan, req: view, labels, decision: d, lane, span };
    if (d.kind === "noroute") return this.local(res, state, 404, "NR", LOCAL_REPLIES.NR.body);
    const route = d.route;
    const matchedPrefix = route && d.matchIndex >= 0 ? route.matches[d.matchIndex]!.uriPrefix : undefined;
    if (d.kind === "redirect") {
      const rd = route!.spec.redirect!;
      return this.local(res, state, rd.redirectCode, "", "", [
        "location",
        redirectLocation(rd, view, matchedPrefix),
      ]);
    }
    if (d.kind === "direct") {
      const dr = route!.spec.directResponse!;
      return this.local(res, state, dr.status, "", dr.body ?? "");
    }
    if (!d.healthy) return this.local(res, state, 503, "UH", LOCAL_REPLIES.UH.body);
    const fault = route ? decideFault(route.spec.fault, Math.random) : undefined;
    if (fault && fault.abortStatus > 0 && fault.delayMs === 0) {
      return this.local(res, state, fault.abortStatus, "FI", "fault filter abort");
    }

    // Upstream request headers: app headers minus hop-by-hop and proxy-owned names, then the
    // route's operations, then the labels (so neither the app nor Connection can remove them).
    const ops = headerOps(route, d.destinationHeaders);
    const external = d.cluster!.service.location === "MESH_EXTERNAL";
    const headers = copyRequestHeaders(raw, plan.dropped);
    let upstreamAuthority = authority;
    if (route?.spec.rewrite?.authority) upstreamAuthority = route.spec.rewrite.authority;
    headers.push("host", upstreamAuthority);
    if (requestId) headers.push("x-request-id", requestId);
    applyOps(headers, ops.request);
    if (!plan.resolver.empty || guard) {
      // A route's `set` of a label header is that label's value: one header, never two.
      const opsLabels = ownedSets(ops.request, plan.owned);
      if (opsLabels) {
        labels = { ...labels, ...opsLabels };
        for (const name of plan.owned) removeHeader(headers, name);
        // The lane the request goes on in is the one the route set (a weighted destination's `set`).
        state.lane = laneOf(labels);
      }
      if (guard) guard.stripBaggage(headers);
      else if (external) stripLaneBaggage(headers, plan.owned);
      // Egress (MESH_EXTERNAL): lanes stay inside the mesh.
      if (!external) for (const k in labels) headers.push(k, labels[k]!);
      setLaneBaggage(headers, plan.resolver.baggageLabels, external ? {} : labels);
    }
    // Who is calling, for the called sidecar's `source_*` labels; never sent out of the mesh.
    if (!external) headers.push(PEER_METADATA_HEADER, this.edges.peerHeader);
    if (route?.spec.rewrite) path = rewritePath(route.spec.rewrite, path, matchedPrefix);

    const x = new Exchange(
      this,
      req,
      method,
      path,
      headers,
      // No VirtualService: Istio's default route still has the default retry policy.
      retryPolicy(route ? route.retries : DEFAULT_RETRY),
      ops.response,
    );
    x.tag = state;
    x.cluster = d.cluster;
    const ep = d.cluster!.pick(
      this.rt.health,
      hashKeyFor(d.cluster!.policy.loadBalancer?.consistentHash, view),
    );
    if (!ep) return this.local(res, state, 503, "UH", LOCAL_REPLIES.UH.body);
    x.ep = ep;
    if (route) {
      x.setRouteTimeout(route.spec.timeoutMs);
      if (route.mirrors.length > 0 && !req.hasBody) this.mirror(state, headers, method, path);
    }
    if (fault && fault.delayMs > 0) {
      setTimeout(() => {
        if (fault.abortStatus > 0) x.fail(fault.abortStatus, "FI", "fault filter abort");
        else x.dispatch();
      }, fault.delayMs);
      return;
    }
    x.dispatch();
  };

  /** After a failed attempt: route again (availability has changed) and pick a new endpoint. */
  retarget(x: Exchange, untried = false): boolean {
    const s = x.tag as RouteState;
    const d = s.plan.router.route(s.req, s.plan.ctx, s.labels, this.rt.health);
    if (d.kind !== "route" || !d.healthy || !d.cluster) return false;
    const hash = hashKeyFor(d.cluster.policy.loadBalancer?.consistentHash, s.req);
    let ep = d.cluster.pick(this.rt.health, hash);
    // Prefer a host not tried yet (Envoy's previous_hosts retry predicate).
    for (let i = 0; ep && x.tried.includes(ep) && i < d.cluster.endpoints.length; i++)
      ep = d.cluster.pick(this.rt.health, hash);
    if (!ep || (untried && x.tried.includes(ep))) return false;
    s.decision = d;
    x.cluster = d.cluster;
    x.ep = ep;
    return true;
  }

  finish(x: Exchange, status: number, flags: ResponseFlag): void {
    const s = x.tag as RouteState;
    this.record(s, status, flags, x.ep, x.durationMs, x.stream, x);
  }

  private record(
    s: RouteState,
    status: number,
    flags: string,
    ep: Endpoint | undefined,
    ms: number,
    stream: DownstreamStream,
    x?: Exchange,
  ): void {
    const d = s.decision;
    // How the connection to the endpoint was secured (mutual-TLS principals for the metrics).
    const plan = ep && x ? this.rt.pools.plans.of(ep, x.cluster) : undefined;
    const dest = d.cluster?.host ?? d.host;
    const v = ep?.labels.version ?? d.cluster?.subset ?? "unknown";
    const upstream = ep?.key;
    const log = this.rt.accessLog;
    if (log) {
      log.log({
        listener: this.kind,
        method: s.req.method,
        path: s.req.path,
        status,
        flags,
        durationMs: ms,
        destination: dest,
        version: v,
        upstream,
        lane: s.lane,
        fallback: d.fallback ? d.fallback.reason : "none",
        requestId: s.req.header("x-request-id"),
        transportFailure: x?.transportFailure,
      });
    }
    if (s.span) {
      this.rt.tracer!.end(s.span, status, flags, {
        lane: s.lane,
        subset: d.cluster?.subset ?? "",
        fallback: d.fallback ? d.fallback.reason : "none",
        destination: dest,
        listener: this.kind,
      });
    }
    this.edges
      .edge(dest, d.cluster?.service.namespace ?? "", ep, plan)
      .record(
        status,
        flags || "-",
        s.lane,
        d.fallback ? d.fallback.reason : "none",
        ms,
        stream.bodyBytesIn,
        stream.bodyBytesOut,
      );
  }

  private local(
    res: DownstreamStream,
    s: RouteState,
    status: number,
    flag: ResponseFlag,
    body: string,
    extra?: string[],
  ): void {
    const start = performance.now();
    if (status >= 300 && status < 400 && extra) {
      res.writeHead(status, undefined, [...extra, "content-length", "0"]);
      res.end();
    } else sendLocalReply(res, status, flag, body, extra);
    this.record(s, status, flag, undefined, performance.now() - start, res);
  }

  /** Fire-and-forget copies to mirror targets (bodyless requests only; bodies are not buffered). */
  private mirror(s: RouteState, headers: string[], method: string, path: string): void {
    const route = s.decision.route!;
    for (const m of route.mirrors) {
      if (!sampleMirror(m.percentage, Math.random)) continue;
      const cluster = s.plan.router.clusterFor(m.target, s.req.port, s.labels);
      const ep = cluster?.pick(this.rt.health);
      if (!cluster || !ep) continue;
      const h = headers.slice();
      for (let i = 0; i < h.length; i += 2) if (h[i] === "host") h[i + 1] = `${h[i + 1]}-shadow`;
      const entry = this.rt.pools.forCluster(ep, cluster);
      entry.pool.dispatch(
        { path, method, headers: h, body: null, headersTimeoutMs: 300_000, bodyTimeoutMs: 300_000 },
        MIRROR_SINK,
      );
    }
  }
}

/** Discards mirror responses; mirror failures never affect the real request. */
const MIRROR_SINK = {
  onConnect() {},
  onHeaders() {
    return true;
  },
  onData() {
    return true;
  },
  onComplete() {},
  onError() {},
};
