/**
 * The sidecar's inbound listener: requests from outside the pod to the local app. It makes sure
 * the request has an `x-request-id` (generating one, as Envoy does), resolves this workload's
 * labels from the inbound request, records them and the headers TrafficLabel functions name in
 * the correlation store under every correlation header, and forwards to the app, streaming both
 * ways. Who called (peer metadata) and whether it is a health probe are read for the metrics
 * (telemetry/edges.ts) and stripped before the app.
 *
 * Before any of that, AuthorizationPolicy decides (inbound-security.ts): the source principal
 * comes from the connection's verified peer certificate (inbound-peer.ts), the source IP from
 * the socket, the port is the app's. A denied request gets `403 RBAC: access denied` with flag
 * `RBAC` and never reaches the app (nor the correlation store).
 */
import { randomUUID } from "node:crypto";
import {
  type ConfigSnapshot,
  DEFAULT_CORRELATION_HEADERS,
  type Endpoint,
  type LabelResolver,
  splitAuthority,
} from "@lanecar/core";
import type { Span } from "@opentelemetry/api";
import type { DownstreamStream } from "../http/downstream.js";
import { type ResponseFlag, sendLocalReply } from "../http/local-reply.js";
import { copyRequestHeaders, rawHeader, rawHeaderGetter } from "../http/raw-headers.js";
import { sameAuthority, splitAbsoluteForm } from "../http/target.js";
import type { MeshTls } from "../identity/mesh-tls.js";
import { formatSpiffeId } from "../identity/spiffe.js";
import type { ProxyRuntime, RequestEdge } from "../runtime.js";
import { DestinationEdges, MESH_HEADERS } from "../telemetry/edges.js";
import { Exchange, type ExchangeOwner } from "../upstream/exchange.js";
import { NO_HEALTH } from "../upstream/upstream-health.js";
import { InboundAuthzRequest } from "./inbound-authz-request.js";
import { type InboundPeer, inboundPeer } from "./inbound-peer.js";
import { InboundSecurity } from "./inbound-security.js";

/** Envoy's RBAC filter's answer to a denied request (body and status, SPEC section 12). */
const RBAC_DENIED = "RBAC: access denied";

interface InboundTag {
  lane: string;
  peer: InboundPeer;
  /** Undefined for a health-check probe (not in `istio_*`). */
  edge: RequestEdge | undefined;
  requestId: string | undefined;
  span: Span | undefined;
}

interface Plan {
  resolver: LabelResolver;
  correlationHeaders: readonly string[];
}

export class InboundListener implements ExchangeOwner {
  readonly health = NO_HEALTH;
  private plans = new WeakMap<ConfigSnapshot, Plan>();
  private readonly app: Endpoint;
  private readonly edges: DestinationEdges;
  readonly security: InboundSecurity;
  private readonly ownSpiffeId: () => string | undefined;
  /** Filled and read synchronously per request: authorization allocates nothing of its own. */
  private readonly authzRequest = new InboundAuthzRequest();

  constructor(
    private readonly rt: ProxyRuntime,
    appUrl: string,
    mesh?: MeshTls,
    warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  ) {
    this.ownSpiffeId = () => (mesh ? formatSpiffeId(mesh.watcher.current.identity) : undefined);
    this.edges = new DestinationEdges(rt.metrics, rt.identity, this.ownSpiffeId);
    const u = new URL(appUrl);
    const { host, port } = splitAuthority(u.host);
    const p = port ?? 80;
    this.security = new InboundSecurity(rt, p, mesh, warn);
    this.app = Object.freeze({
      key: host.includes(":") ? `[${host}]:${p}` : `${host}:${p}`,
      address: host,
      port: p,
      labels: rt.identity.podLabels,
      weight: 1,
      probe: undefined,
      origin: "app",
    });
  }

  get pools() {
    return this.rt.pools;
  }

  private plan(snap: ConfigSnapshot): Plan {
    let p = this.plans.get(snap);
    if (!p) {
      const id = this.rt.identity;
      const resolver = snap.labelResolver(id.namespace, id.podLabels);
      const ctx = new Set<string>([...DEFAULT_CORRELATION_HEADERS, ...resolver.contextHeaders]);
      p = { resolver, correlationHeaders: [...ctx] };
      this.plans.set(snap, p);
    }
    return p;
  }

  readonly handle = (req: DownstreamStream): void => {
    const raw = req.rawHeaders;
    // An absolute-form target goes to the app in origin form, Host from the target (RFC 9112
    // §3.2.2); a Host that names another authority is refused rather than guessed at.
    let path = req.url;
    let host = rawHeader(raw, "host");
    if (path.charCodeAt(0) !== 47 /* / */ && path !== "*") {
      const t = splitAbsoluteForm(path);
      if (t === undefined || (host !== undefined && !sameAuthority(host, t.authority))) {
        sendLocalReply(
          req,
          400,
          "DPE",
          t ? "Host does not match the request target" : "invalid request target",
        );
        return;
      }
      path = t.path;
      host = t.authority;
    }
    const snap = this.rt.config.current;
    const sec = this.security.plan(snap);
    if (sec.failClosed) {
      // STRICT without an identity (warned at load): nothing can be served.
      req.destroy();
      return;
    }
    const peer = inboundPeer(req.socket);
    const plan = this.plan(snap);
    let getter = rawHeaderGetter(raw);
    let requestId = rawHeader(raw, "x-request-id");
    const generated = requestId === undefined;
    if (generated) {
      requestId = randomUUID();
      const base = getter;
      getter = (n) => (n === "x-request-id" ? requestId : base(n));
    }
    const id = this.rt.identity;
    if (sec.authorizer.active) {
      const a = this.authzRequest.fill(
        peer.principal,
        peer.namespace,
        req.remoteAddress,
        host ?? "",
        req.method,
        path,
        this.security.port,
        getter,
      );
      const allowed = sec.authorizer.decide(a).allowed;
      a.clear();
      if (!allowed) {
        this.deny(req, path, peer, requestId!);
        return;
      }
    }
    let lane = "none";
    if (!plan.resolver.empty) {
      const r = plan.resolver.resolve("inbound", getter, id.podLabels);
      if (r.invalid > 0) this.rt.metrics.invalidLabels(r.invalid);
      const headers: Record<string, string> = {};
      for (const h of plan.resolver.recordHeaders) {
        const v = getter(h);
        if (v !== undefined) headers[h] = v;
      }
      this.rt.correlation.recordInbound(getter, plan.correlationHeaders, { headers, labels: r.values });
      for (const k in r.values) {
        lane = r.values[k]!;
        break;
      }
    }
    // Peer metadata and the probe marker are for this sidecar only: consumed here, never forwarded.
    const edge = this.edges.forRequest(raw, peer);
    const headers = copyRequestHeaders(raw, MESH_HEADERS);
    headers.push("host", host ?? this.app.key);
    if (generated) headers.push("x-request-id", requestId!);
    const x = new Exchange(this, req, req.method, path, headers);
    x.ep = this.app;
    x.tag = {
      lane,
      peer,
      edge,
      requestId,
      span: this.rt.tracer?.start(`inbound ${id.service}`, getter),
    } satisfies InboundTag;
    x.dispatch();
  };

  retarget(): boolean {
    return false;
  }

  /** 403 `RBAC: access denied`, logged and counted like any answer; the app never sees it. */
  private deny(req: DownstreamStream, path: string, peer: InboundPeer, requestId: string): void {
    const start = performance.now();
    sendLocalReply(req, 403, "RBAC", RBAC_DENIED);
    const edge = this.edges.forRequest(req.rawHeaders, peer);
    this.record(req, req.method, path, 403, "RBAC", performance.now() - start, "none", edge, requestId, peer);
  }

  finish(x: Exchange, status: number, flags: ResponseFlag): void {
    const tag = x.tag as InboundTag;
    this.record(
      x.stream,
      x.method,
      x.path,
      status,
      flags,
      x.durationMs,
      tag.lane,
      tag.edge,
      tag.requestId,
      tag.peer,
    );
    if (tag.span) {
      const id = this.rt.identity;
      this.rt.tracer!.end(tag.span, status, flags, {
        lane: tag.lane,
        subset: id.podLabels.version ?? "",
        fallback: "none",
        destination: id.service,
        listener: "inbound",
      });
    }
  }

  private record(
    stream: DownstreamStream,
    method: string,
    path: string,
    status: number,
    flags: ResponseFlag,
    ms: number,
    lane: string,
    edge: RequestEdge | undefined,
    requestId: string | undefined,
    peer: InboundPeer,
  ): void {
    const id = this.rt.identity;
    const log = this.rt.accessLog;
    if (log) {
      log.log({
        listener: "inbound",
        method,
        path,
        status,
        flags,
        durationMs: ms,
        destination: id.service,
        version: id.podLabels.version ?? "unknown",
        // A denied request never went to the app.
        upstream: flags === "RBAC" ? undefined : this.app.key,
        lane,
        fallback: "none",
        requestId,
        sourcePrincipal: peer.mtls ? (peer.spiffeId ?? "unknown") : undefined,
        destinationPrincipal: peer.mtls ? (this.ownSpiffeId() ?? "unknown") : undefined,
      });
    }
    if (edge)
      // Envoy's RBAC filter sets no response flag (the reason goes to response_code_details):
      // istio_requests_total says `-` for a denial, as Istio's would; the access log says RBAC.
      edge.record(
        status,
        flags === "RBAC" ? "-" : flags || "-",
        lane,
        "none",
        ms,
        stream.bodyBytesIn,
        stream.bodyBytesOut,
      );
    else this.rt.metrics.probe();
  }
}
