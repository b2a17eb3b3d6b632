/**
 * Route actions as pure functions the proxy applies: path rewrite, redirect location, fault
 * decision, mirror sampling, and the merged header operations of route + destination.
 */
import type {
  HeaderOps,
  Headers,
  HTTPFaultInjection,
  HTTPRedirect,
  HTTPRewrite,
} from "../resources/types.js";
import { compileRewrite, type Re2Rewrite, replaceAll } from "./re2.js";
import type { CompiledRoute } from "./route-table.js";

const rewriteCache = new WeakMap<object, Re2Rewrite>();

/**
 * Compiles a route's `uriRegexRewrite` ahead of its first request (route tables call this when
 * a snapshot is built), so the request path only matches.
 */
export function prepareRewrite(rw: HTTPRewrite | undefined): void {
  const rr = rw?.uriRegexRewrite;
  if (rr && !rewriteCache.has(rr)) rewriteCache.set(rr, compileRewrite(rr.match, rr.rewrite));
}

/**
 * Applies `rewrite.uri` / `uriRegexRewrite` to a path (query kept). `rewrite.uri` replaces the
 * matched `uri.prefix` when the rule matched on one, else the whole path, as Istio does.
 */
export function rewritePath(rw: HTTPRewrite, path: string, matchedPrefix: string | undefined): string {
  const q = path.indexOf("?");
  const p = q >= 0 ? path.slice(0, q) : path;
  const query = q >= 0 ? path.slice(q) : "";
  if (rw.uriRegexRewrite) {
    let compiled = rewriteCache.get(rw.uriRegexRewrite);
    if (!compiled) {
      prepareRewrite(rw);
      compiled = rewriteCache.get(rw.uriRegexRewrite)!;
    }
    return replaceAll(compiled, p) + query;
  }
  if (rw.uri === undefined) return path;
  if (matchedPrefix !== undefined && p.startsWith(matchedPrefix)) {
    let rest = p.slice(matchedPrefix.length);
    // `/v1/` + `foo` and `/` + `/foo` both give one slash.
    if (rw.uri.endsWith("/") && rest.startsWith("/")) rest = rest.slice(1);
    return rw.uri + rest + query;
  }
  return rw.uri + query;
}

/**
 * `Location` for a redirect rule, from the request's scheme, authority and path. Unlike
 * `rewrite.uri`, `redirect.uri` replaces the entire path even when the rule matched a prefix
 * (Istio's HTTPRedirect); the query is kept, as Envoy's `path_redirect` does. The matched
 * prefix is accepted for symmetry with `rewritePath` and not used.
 */
export function redirectLocation(
  rd: HTTPRedirect,
  req: { scheme: string; authority: string; path: string; port: number | undefined },
  _matchedPrefix: string | undefined,
): string {
  const scheme = rd.scheme ?? req.scheme;
  let authority = rd.authority ?? req.authority;
  const host = authority.replace(/:\d+$/, "");
  if (rd.port !== undefined) authority = `${host}:${rd.port}`;
  else if (rd.derivePort === "FROM_PROTOCOL_DEFAULT") authority = host;
  else if (rd.derivePort === "FROM_REQUEST_PORT" && req.port !== undefined) authority = `${host}:${req.port}`;
  let path = req.path;
  if (rd.uri !== undefined) path = rewritePath({ uri: rd.uri }, req.path, undefined);
  return `${scheme}://${authority}${path}`;
}

export interface FaultDecision {
  delayMs: number;
  /** HTTP status to abort with; 0 = no abort. */
  abortStatus: number;
}

const NO_FAULT: FaultDecision = Object.freeze({ delayMs: 0, abortStatus: 0 });

/** Draws the fault for one request; `rand` returns [0, 1). Percentages are 0..100. */
export function decideFault(f: HTTPFaultInjection | undefined, rand: () => number): FaultDecision {
  if (!f) return NO_FAULT;
  const delayMs = f.delay && rand() * 100 < f.delay.percentage ? f.delay.fixedDelayMs : 0;
  const abortStatus = f.abort && rand() * 100 < f.abort.percentage ? f.abort.httpStatus : 0;
  return delayMs === 0 && abortStatus === 0 ? NO_FAULT : { delayMs, abortStatus };
}

/** Should this request be mirrored (percentage 0..100)? */
export function sampleMirror(percentage: number, rand: () => number): boolean {
  return percentage >= 100 || rand() * 100 < percentage;
}

const EMPTY_OPS: HeaderOps = Object.freeze({ set: [], add: [], remove: [] }) as unknown as HeaderOps;

function merge(a: HeaderOps | undefined, b: HeaderOps | undefined): HeaderOps {
  if (!a) return b ?? EMPTY_OPS;
  if (!b) return a;
  return { set: [...a.set, ...b.set], add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove] };
}

const mergedCache = new WeakMap<object, WeakMap<object, { request: HeaderOps; response: HeaderOps }>>();
const NONE = {};

/**
 * Header operations for a request: route-level then destination-level (destination wins on `set`
 * of the same name because it is applied last). Cached per (route, destination).
 */
export function headerOps(
  route: CompiledRoute | undefined,
  dest: Headers | undefined,
): { request: HeaderOps; response: HeaderOps } {
  const rk = route?.spec ?? NONE;
  const dk = dest ?? NONE;
  let inner = mergedCache.get(rk);
  if (!inner) {
    inner = new WeakMap();
    mergedCache.set(rk, inner);
  }
  let hit = inner.get(dk);
  if (!hit) {
    hit = {
      request: merge(route?.spec.headers?.request, dest?.request),
      response: merge(route?.spec.headers?.response, dest?.response),
    };
    inner.set(dk, hit);
  }
  return hit;
}
