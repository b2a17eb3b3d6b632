/**
 * The actions a VirtualService http route carries besides routing — fault injection, retries,
 * rewrite, redirect, directResponse — checked by Istio's rules and normalized.
 */
import { type Check, type Obj, SAFE_HEADER_VALUE } from "./check.js";
import { joinPath } from "./source.js";
import type {
  HTTPDirectResponse,
  HTTPFaultInjection,
  HTTPRedirect,
  HTTPRetry,
  HTTPRewrite,
} from "./types.js";

/** `retryOn` policies Envoy (and so Istio) accepts, plus numeric status codes. */
export const RETRY_ON = [
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
] as const;

/** Istio's default retry policy when a route has no `retries` block. */
export const DEFAULT_RETRY: HTTPRetry = {
  attempts: 2,
  retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
};

/**
 * The share of requests a fault applies to. Istio: "if left unspecified, no request will be
 * delayed/aborted", so an absent `percentage` (and absent legacy `percent`) is 0, with a warning
 * because a user who wrote a fault rarely means it to do nothing.
 */
function percentage(c: Check, o: Obj, path: string, what: string): number {
  if (o.percentage !== undefined) {
    const p = c.obj(o.percentage, joinPath(path, "percentage"));
    if (!p) return 0;
    c.fields(p, joinPath(path, "percentage"), ["value"]);
    return c.num(p.value, joinPath(joinPath(path, "percentage"), "value"), { min: 0, max: 100 }) ?? 0;
  }
  if (o.percent !== undefined) return c.int(o.percent, joinPath(path, "percent"), { min: 0, max: 100 }) ?? 0;
  c.warn(path, `no percentage: no request is ${what} (as Istio; set percentage.value: 100 for all)`);
  return 0;
}

export function checkFault(c: Check, v: unknown, path: string): HTTPFaultInjection | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["delay", "abort"]);
  const f: HTTPFaultInjection = {};
  const d = c.obj(o.delay, joinPath(path, "delay"));
  if (d) {
    const dp = joinPath(path, "delay");
    c.fields(d, dp, ["fixedDelay", "percentage", "percent"], ["exponentialDelay"]);
    const ms = c.duration(d.fixedDelay, joinPath(dp, "fixedDelay"), 1);
    if (d.fixedDelay === undefined) c.error(joinPath(dp, "fixedDelay"), "is required");
    if (ms !== undefined) f.delay = { fixedDelayMs: ms, percentage: percentage(c, d, dp, "delayed") };
  }
  const a = c.obj(o.abort, joinPath(path, "abort"));
  if (a) {
    const ap = joinPath(path, "abort");
    c.fields(a, ap, ["httpStatus", "percentage", "percent", "grpcStatus", "http2Error"]);
    const kinds = ["httpStatus", "grpcStatus", "http2Error"].filter((k) => a[k] !== undefined);
    if (kinds.length > 1)
      c.error(ap, `must set only one of httpStatus, grpcStatus, http2Error; got ${kinds.join(", ")}`);
    // gRPC and HTTP/2 errors only exist on gRPC / HTTP/2 streams, which Lanecar does not proxy.
    for (const k of ["grpcStatus", "http2Error"])
      if (a[k] !== undefined)
        c.warn(joinPath(ap, k), "gRPC and HTTP/2 are not proxied by Lanecar; this abort is ignored");
    if (a.grpcStatus === undefined && a.http2Error === undefined) {
      const status = c.int(a.httpStatus, joinPath(ap, "httpStatus"), { required: true, min: 200, max: 599 });
      if (status !== undefined) f.abort = { httpStatus: status, percentage: percentage(c, a, ap, "aborted") };
    }
  }
  if (!o.delay && !o.abort) c.error(path, "must set delay or abort");
  return f;
}

export function checkRetries(c: Check, v: unknown, path: string): HTTPRetry | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["attempts", "perTryTimeout", "retryOn"], ["retryRemoteLocalities"]);
  const attempts = c.int(o.attempts, joinPath(path, "attempts"), { min: 0 }) ?? 0;
  const r: HTTPRetry = { attempts, retryOn: DEFAULT_RETRY.retryOn };
  const per = c.duration(o.perTryTimeout, joinPath(path, "perTryTimeout"), 1);
  if (per !== undefined) r.perTryTimeoutMs = per;
  const on = c.str(o.retryOn, joinPath(path, "retryOn"));
  if (on !== undefined) {
    const parts = on
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const p of parts) {
      if (!(RETRY_ON as readonly string[]).includes(p) && !/^[1-5]\d\d$/.test(p)) {
        c.error(joinPath(path, "retryOn"), `unknown retry policy "${p}"`);
      }
    }
    r.retryOn = parts;
  }
  return r;
}

export function checkRewrite(c: Check, v: unknown, path: string): HTTPRewrite | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["uri", "authority", "uriRegexRewrite"]);
  const r: HTTPRewrite = {};
  const uri = c.str(o.uri, joinPath(path, "uri"));
  if (uri !== undefined) r.uri = uri;
  const auth = c.str(o.authority, joinPath(path, "authority"));
  if (auth !== undefined) {
    if (!SAFE_HEADER_VALUE.test(auth) || /\s/.test(auth))
      c.error(joinPath(path, "authority"), "invalid authority");
    else r.authority = auth;
  }
  const rr = c.obj(o.uriRegexRewrite, joinPath(path, "uriRegexRewrite"));
  if (rr) {
    const p = joinPath(path, "uriRegexRewrite");
    c.fields(rr, p, ["match", "rewrite"]);
    const match = c.str(rr.match, joinPath(p, "match"), true);
    const rewrite = c.str(rr.rewrite, joinPath(p, "rewrite"));
    if (match !== undefined && c.regex(match, joinPath(p, "match")))
      r.uriRegexRewrite = { match, rewrite: rewrite ?? "" };
    if (uri !== undefined) c.error(p, "cannot be set together with uri");
  }
  // Judge presence, not validity: a bad uriRegexRewrite is reported on its own field.
  if (o.uri === undefined && o.authority === undefined && o.uriRegexRewrite === undefined) {
    c.error(path, "must set uri, authority or uriRegexRewrite");
  }
  return r;
}

export function checkRedirect(c: Check, v: unknown, path: string): HTTPRedirect | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["uri", "authority", "port", "derivePort", "scheme", "redirectCode"]);
  const r: HTTPRedirect = {
    redirectCode: c.int(o.redirectCode, joinPath(path, "redirectCode"), { min: 300, max: 399 }) ?? 301,
  };
  const uri = c.str(o.uri, joinPath(path, "uri"));
  if (uri !== undefined) r.uri = uri;
  const auth = c.str(o.authority, joinPath(path, "authority"));
  if (auth !== undefined) r.authority = auth;
  const port = c.int(o.port, joinPath(path, "port"), { min: 1, max: 65535 });
  if (port !== undefined) r.port = port;
  const dp = c.oneOf(o.derivePort, joinPath(path, "derivePort"), [
    "FROM_PROTOCOL_DEFAULT",
    "FROM_REQUEST_PORT",
  ] as const);
  if (dp) r.derivePort = dp;
  if (dp && port !== undefined) c.error(joinPath(path, "derivePort"), "cannot be set together with port");
  const scheme = c.oneOf(o.scheme, joinPath(path, "scheme"), ["http", "https"] as const);
  if (scheme) r.scheme = scheme;
  for (const k of ["uri", "authority"] as const) {
    const val = r[k];
    if (val !== undefined && !SAFE_HEADER_VALUE.test(val))
      c.error(joinPath(path, k), "must not contain CR, LF or NUL");
  }
  return r;
}

export function checkDirectResponse(c: Check, v: unknown, path: string): HTTPDirectResponse | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["status", "body"]);
  const status = c.int(o.status, joinPath(path, "status"), { required: true, min: 200, max: 599 });
  if (status === undefined) return undefined;
  const r: HTTPDirectResponse = { status };
  const b = c.obj(o.body, joinPath(path, "body"));
  if (b) {
    const bp = joinPath(path, "body");
    c.fields(b, bp, ["string", "bytes"]);
    if (b.string !== undefined && b.bytes !== undefined) c.error(bp, "must set only one of string, bytes");
    const s = c.str(b.string, joinPath(bp, "string"));
    if (s !== undefined) r.body = s;
    const bytes = c.str(b.bytes, joinPath(bp, "bytes"));
    if (bytes !== undefined) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(bytes)) c.error(joinPath(bp, "bytes"), "must be base64");
      else r.body = Buffer.from(bytes, "base64").toString("latin1");
    }
  }
  return r;
}
