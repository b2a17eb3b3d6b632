/**
 * The sidecar's inbound listener: requests from outside the pod to the local app. It makes sure
 * the request has an `x-request-id` (generating one, as Envoy does), resolves this workload's
 * labels from the inbound request, records them and the headers TrafficLabel functions name in
 * the correlation store under every correlation header, and forwards to the app, streaming both
 * ways. Who called (peer metadata) and whether it is a health probe are read for the metrics
 * (telemetry/edges.ts) and stripped before the app.
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
import type { ProxyRuntime, RequestEdge } from "../runtime.js";
import { DestinationEdges, MESH_HEADERS } from "../telemetry/edges.js";
import { Exchange, type ExchangeOwner } from "../upstream/exchange.js";
import { NO_HEALTH } from "../upstream/upstream-health.js";

interface InboundTag {
  lane: string;
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

  constructor(
    private readonly rt: ProxyRuntime,
    appUrl: string,
  ) {
    this.edges = new DestinationEdges(rt.metrics, rt.identity);
    const u = new URL(appUrl);
    const { host, port } = splitAuthority(u.host);
    const p = port ?? 80;
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
    const plan = this.plan(this.rt.config.current);
    let getter = rawHeaderGetter(raw);
    let requestId = rawHeader(raw, "x-request-id");
    const generated = requestId === undefined;
    if (generated) {
      requestId = randomUUID();
      const base = getter;
      getter = (n) => (n === "x-request-id" ? requestId : base(n));
    }
    const id = this.rt.identity;
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
    const edge = this.edges.forRequest(raw);
    const headers = copyRequestHeaders(raw, MESH_HEADERS);
    headers.push("host", host ?? this.app.key);
    if (generated) headers.push("x-request-id", requestId!);
    const x = new Exchange(this, req, req.method, path, headers);
    x.ep = this.app;
    x.tag = {
      lane,
      edge,
      requestId,
      span: this.rt.tracer?.start(`inbound ${id.service}`, getter),
    } satisfies InboundTag;
    x.dispatch();
  };

  retarget(): boolean {
    return false;
  }

  finish(x: Exchange, status: number, flags: ResponseFlag): void {
    const id = this.rt.identity;
    const tag = x.tag as InboundTag;
    const log = this.rt.accessLog;
    if (log) {
      log.log({
        listener: "inbound",
        method: x.method,
        path: x.path,
        status,
        flags,
        durationMs: x.durationMs,
        destination: id.service,
        version: id.podLabels.version ?? "unknown",
        upstream: this.app.key,
        lane: tag.lane,
        fallback: "none",
        requestId: tag.requestId,
      });
    }
    if (tag.span) {
      this.rt.tracer!.end(tag.span, status, flags, {
        lane: tag.lane,
        subset: id.podLabels.version ?? "",
        fallback: "none",
        destination: id.service,
        listener: "inbound",
      });
    }
    if (tag.edge)
      tag.edge.record(
        status,
        flags || "-",
        tag.lane,
        "none",
        x.durationMs,
        x.stream.bodyBytesIn,
        x.stream.bodyBytesOut,
      );
    else this.rt.metrics.probe();
  }
}
