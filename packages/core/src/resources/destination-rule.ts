/** DestinationRule: subsets, load balancer, connection pool, outlier detection, TLS, port-level settings. */
import type { Check, Obj } from "./check.js";
import { checkClientTls } from "./client-tls.js";
import { joinPath } from "./source.js";
import type {
  ConnectionPoolSettings,
  DestinationRuleSpec,
  OutlierDetection,
  PortTrafficPolicy,
  Subset,
  TrafficPolicy,
  TrafficPolicyFields,
} from "./types.js";

/** Envoy/Istio outlier detection defaults. */
export const OUTLIER_DEFAULTS: OutlierDetection = {
  consecutive5xxErrors: 5,
  consecutiveGatewayErrors: 0,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 10,
  minHealthPercent: 0,
};

function checkConnectionPool(c: Check, v: unknown, path: string): ConnectionPoolSettings | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["tcp", "http"], ["tcpKeepalive"]);
  const cp: ConnectionPoolSettings = {};
  const tcp = c.obj(o.tcp, joinPath(path, "tcp"));
  if (tcp) {
    const p = joinPath(path, "tcp");
    c.fields(
      tcp,
      p,
      ["maxConnections", "connectTimeout"],
      ["tcpKeepalive", "maxConnectionDuration", "idleTimeout"],
    );
    const mc = c.int(tcp.maxConnections, joinPath(p, "maxConnections"), { min: 1 });
    if (mc !== undefined) cp.maxConnections = mc;
    const ct = c.duration(tcp.connectTimeout, joinPath(p, "connectTimeout"), 1);
    if (ct !== undefined) cp.connectTimeoutMs = ct;
  }
  const http = c.obj(o.http, joinPath(path, "http"));
  if (http) {
    const p = joinPath(path, "http");
    c.fields(
      http,
      p,
      [
        "http1MaxPendingRequests",
        "http2MaxRequests",
        "maxRequestsPerConnection",
        "maxRetries",
        "idleTimeout",
      ],
      ["h2UpgradePolicy", "useClientProtocol", "maxConcurrentStreams"],
    );
    for (const k of [
      "http1MaxPendingRequests",
      "http2MaxRequests",
      "maxRequestsPerConnection",
      "maxRetries",
    ] as const) {
      const n = c.int(http[k], joinPath(p, k), { min: 0 });
      if (n !== undefined) cp[k] = n;
    }
    const it = c.duration(http.idleTimeout, joinPath(p, "idleTimeout"), 1);
    if (it !== undefined) cp.idleTimeoutMs = it;
  }
  return cp;
}

function checkOutlier(c: Check, v: unknown, path: string): OutlierDetection | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(
    o,
    path,
    [
      "consecutive5xxErrors",
      "consecutiveErrors",
      "consecutiveGatewayErrors",
      "interval",
      "baseEjectionTime",
      "maxEjectionPercent",
      "minHealthPercent",
    ],
    ["splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures"],
  );
  if (o.consecutiveErrors !== undefined)
    c.warn(
      joinPath(path, "consecutiveErrors"),
      o.consecutive5xxErrors !== undefined
        ? "deprecated (Istio); ignored: consecutive5xxErrors is set"
        : "deprecated (Istio); read as consecutive5xxErrors",
    );
  const od: OutlierDetection = { ...OUTLIER_DEFAULTS };
  const c5 = c.int(
    o.consecutive5xxErrors ?? o.consecutiveErrors,
    joinPath(path, o.consecutive5xxErrors !== undefined ? "consecutive5xxErrors" : "consecutiveErrors"),
    { min: 0 },
  );
  if (c5 !== undefined) od.consecutive5xxErrors = c5;
  const cg = c.int(o.consecutiveGatewayErrors, joinPath(path, "consecutiveGatewayErrors"), { min: 0 });
  if (cg !== undefined) od.consecutiveGatewayErrors = cg;
  const iv = c.duration(o.interval, joinPath(path, "interval"), 1);
  if (iv !== undefined) od.intervalMs = iv;
  const be = c.duration(o.baseEjectionTime, joinPath(path, "baseEjectionTime"), 1);
  if (be !== undefined) od.baseEjectionTimeMs = be;
  const mx = c.int(o.maxEjectionPercent, joinPath(path, "maxEjectionPercent"), { min: 0, max: 100 });
  if (mx !== undefined) od.maxEjectionPercent = mx;
  const mh = c.int(o.minHealthPercent, joinPath(path, "minHealthPercent"), { min: 0, max: 100 });
  if (mh !== undefined) od.minHealthPercent = mh;
  return od;
}

/** The four fields a traffic policy and a port-level policy share. */
function checkPolicyFields(c: Check, o: Obj, path: string): TrafficPolicyFields {
  const tp: TrafficPolicyFields = {};
  const lb = c.obj(o.loadBalancer, joinPath(path, "loadBalancer"));
  if (lb) {
    const p = joinPath(path, "loadBalancer");
    c.fields(
      lb,
      p,
      ["simple", "consistentHash"],
      ["localityLbSetting", "warmupDurationSecs", "warmup", "zoneAwareLbSetting"],
    );
    if (lb.simple !== undefined && lb.consistentHash !== undefined)
      c.error(p, "must set only one of simple, consistentHash");
    const simple = c.oneOf(lb.simple, joinPath(p, "simple"), [
      "ROUND_ROBIN",
      "LEAST_REQUEST",
      "LEAST_CONN",
      "RANDOM",
      "PASSTHROUGH",
      "UNSPECIFIED",
    ] as const);
    tp.loadBalancer = {};
    if (simple)
      tp.loadBalancer.simple =
        simple === "LEAST_CONN" ? "LEAST_REQUEST" : simple === "UNSPECIFIED" ? "ROUND_ROBIN" : simple;
    const ch = c.obj(lb.consistentHash, joinPath(p, "consistentHash"));
    if (ch) {
      const hp = joinPath(p, "consistentHash");
      c.fields(
        ch,
        hp,
        ["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"],
        ["minimumRingSize", "ringHash", "maglev"],
      );
      const keys = ["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"].filter(
        (k) => ch[k] !== undefined,
      );
      if (keys.length !== 1)
        c.error(
          hp,
          "must set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName",
        );
      const hash: NonNullable<TrafficPolicy["loadBalancer"]>["consistentHash"] = {};
      const hn = c.str(ch.httpHeaderName, joinPath(hp, "httpHeaderName"));
      if (hn) hash.httpHeaderName = hn.toLowerCase();
      const ck = c.obj(ch.httpCookie, joinPath(hp, "httpCookie"));
      if (ck) {
        const cpth = joinPath(hp, "httpCookie");
        c.fields(ck, cpth, ["name", "path", "ttl"], ["attributes"]);
        const name = c.str(ck.name, joinPath(cpth, "name"), true);
        if (name) {
          hash.httpCookie = { name };
          const pth = c.str(ck.path, joinPath(cpth, "path"));
          if (pth) hash.httpCookie.path = pth;
          const ttl = c.duration(ck.ttl, joinPath(cpth, "ttl"));
          if (ttl !== undefined) hash.httpCookie.ttlMs = ttl;
        }
      }
      const src = c.bool(ch.useSourceIp, joinPath(hp, "useSourceIp"));
      if (src) hash.useSourceIp = true;
      const qp = c.str(ch.httpQueryParameterName, joinPath(hp, "httpQueryParameterName"));
      if (qp) hash.httpQueryParameterName = qp;
      tp.loadBalancer.consistentHash = hash;
    }
  }
  const cp = checkConnectionPool(c, o.connectionPool, joinPath(path, "connectionPool"));
  if (cp) tp.connectionPool = cp;
  const od = checkOutlier(c, o.outlierDetection, joinPath(path, "outlierDetection"));
  if (od) tp.outlierDetection = od;
  const tls = checkClientTls(c, o.tls, joinPath(path, "tls"));
  if (tls) tp.tls = tls;
  return tp;
}

export function checkTrafficPolicy(c: Check, v: unknown, path: string): TrafficPolicy | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(
    o,
    path,
    ["loadBalancer", "connectionPool", "outlierDetection", "tls", "portLevelSettings"],
    ["tunnel", "proxyProtocol", "retryBudget"],
  );
  const tp: TrafficPolicy = checkPolicyFields(c, o, path);
  const ports: PortTrafficPolicy[] = [];
  c.list(o.portLevelSettings, joinPath(path, "portLevelSettings")).forEach((item, i) => {
    const p = `${joinPath(path, "portLevelSettings")}[${i}]`;
    const po = c.obj(item, p, true);
    if (!po) return;
    c.fields(po, p, ["port", "loadBalancer", "connectionPool", "outlierDetection", "tls"]);
    // As Istio: a port-level policy names its port by number.
    const sel = c.obj(po.port, joinPath(p, "port"), true);
    if (sel) c.fields(sel, joinPath(p, "port"), ["number"]);
    const number = sel
      ? c.int(sel.number, joinPath(p, "port.number"), { required: true, min: 1, max: 65535 })
      : undefined;
    const fields = checkPolicyFields(c, po, p);
    if (number === undefined) return;
    if (ports.some((x) => x.port === number))
      c.error(joinPath(p, "port.number"), `port ${number} already has port-level settings`);
    else ports.push({ port: number, ...fields });
  });
  if (ports.length > 0) tp.portLevelSettings = ports;
  return tp;
}

export function checkDestinationRule(c: Check, spec: unknown): DestinationRuleSpec | undefined {
  const o = c.obj(spec, "spec", true);
  if (!o) return undefined;
  c.fields(o, "spec", ["host", "trafficPolicy", "subsets", "exportTo", "workloadSelector"]);
  const host = c.str(o.host, "spec.host", true);
  const trafficPolicy = checkTrafficPolicy(c, o.trafficPolicy, "spec.trafficPolicy");
  const subsets: Subset[] = [];
  const seen = new Set<string>();
  c.list(o.subsets, "spec.subsets").forEach((item, i) => {
    const p = `spec.subsets[${i}]`;
    const s = c.obj(item, p, true);
    if (!s) return;
    c.fields(s, p, ["name", "labels", "trafficPolicy"]);
    const name = c.str(s.name, joinPath(p, "name"), true);
    const labels = c.strMap(s.labels, joinPath(p, "labels")) ?? {};
    const tp = checkTrafficPolicy(c, s.trafficPolicy, joinPath(p, "trafficPolicy"));
    if (name === undefined) return;
    if (name.startsWith("$")) c.error(joinPath(p, "name"), "subset names cannot start with $");
    if (seen.has(name)) c.error(joinPath(p, "name"), `duplicate subset "${name}"`);
    seen.add(name);
    const sub: Subset = { name, labels };
    if (tp) sub.trafficPolicy = tp;
    subsets.push(sub);
  });
  let workloadSelector: Record<string, string> | undefined;
  const ws = c.obj(o.workloadSelector, "spec.workloadSelector");
  if (ws) {
    c.fields(ws, "spec.workloadSelector", ["matchLabels"]);
    workloadSelector = c.strMap(ws.matchLabels, "spec.workloadSelector.matchLabels") ?? {};
  }
  if (host === undefined) return undefined;
  const dr: DestinationRuleSpec = { host, subsets };
  if (trafficPolicy) dr.trafficPolicy = trafficPolicy;
  if (workloadSelector) dr.workloadSelector = workloadSelector;
  return dr;
}
