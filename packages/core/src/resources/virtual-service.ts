/**
 * VirtualService: Istio validation rules plus the ASM lane extensions (`subset: $label`,
 * `fallback`), normalized to `VirtualServiceSpec`.
 */
import { type Check, HEADER_NAME, type Obj, SAFE_HEADER_VALUE } from "./check.js";
import {
  checkDirectResponse,
  checkFault,
  checkRedirect,
  checkRetries,
  checkRewrite,
  DEFAULT_RETRY,
  RETRY_ON,
} from "./http-route-actions.js";
import { joinPath } from "./source.js";
import type {
  Destination,
  Fallback,
  FallbackTarget,
  HeaderOps,
  Headers,
  HTTPRoute,
  MatchRequest,
  Mirror,
  RouteDestination,
  StringMatch,
  VirtualServiceSpec,
} from "./types.js";

export { DEFAULT_RETRY, RETRY_ON };

export const FALLBACK_CASES = ["noinstances", "noavailabled"] as const;

/** `$name` → `name`; anything else → undefined. */
export function subsetTemplate(subset: string | undefined): string | undefined {
  return subset?.startsWith("$") ? subset.slice(1) : undefined;
}

export function checkStringMatch(
  c: Check,
  v: unknown,
  path: string,
  allowPresence: boolean,
): StringMatch | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  const keys = Object.keys(o);
  if (keys.length === 0) {
    if (allowPresence) return { kind: "present" };
    c.error(path, "must set one of exact, prefix, regex");
    return undefined;
  }
  if (keys.length > 1) {
    c.error(path, `must set only one of exact, prefix, regex; got ${keys.join(", ")}`);
    return undefined;
  }
  const key = keys[0]!;
  const p = joinPath(path, key);
  if (key !== "exact" && key !== "prefix" && key !== "regex") {
    c.error(p, "unknown field (expected exact, prefix or regex)");
    return undefined;
  }
  const raw = o[key];
  const value = typeof raw === "number" || typeof raw === "boolean" ? String(raw) : c.str(raw, p, false);
  if (value === undefined) {
    if (raw === undefined || raw === null) c.error(p, "must be a string");
    return undefined;
  }
  if (key === "regex" && !c.regex(value, p)) return undefined;
  return { kind: key, value };
}

function checkMatchMap(c: Check, v: unknown, path: string, lower: boolean): [string, StringMatch][] {
  const o = c.obj(v, path);
  if (!o) return [];
  const out: [string, StringMatch][] = [];
  for (const [name, m] of Object.entries(o)) {
    const p = joinPath(path, name);
    if (lower && !HEADER_NAME.test(name)) {
      c.error(p, `"${name}" is not a valid header name`);
      continue;
    }
    const sm = checkStringMatch(c, m, p, true);
    if (sm) out.push([lower ? name.toLowerCase() : name, sm]);
  }
  return out;
}

function checkMatch(c: Check, v: unknown, path: string): MatchRequest | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(
    o,
    path,
    [
      "name",
      "uri",
      "scheme",
      "method",
      "authority",
      "headers",
      "withoutHeaders",
      "queryParams",
      "ignoreUriCase",
      "port",
      "sourceLabels",
      "sourceNamespace",
      "gateways",
    ],
    ["statPrefix"],
  );
  const m: MatchRequest = {
    headers: checkMatchMap(c, o.headers, joinPath(path, "headers"), true),
    withoutHeaders: checkMatchMap(c, o.withoutHeaders, joinPath(path, "withoutHeaders"), true),
    queryParams: checkMatchMap(c, o.queryParams, joinPath(path, "queryParams"), false).filter(
      ([name, sm]) => {
        if (sm.kind !== "prefix") return true;
        c.error(
          joinPath(joinPath(path, "queryParams"), name),
          "queryParams match exact or regex only (as Istio)",
        );
        return false;
      },
    ),
    ignoreUriCase: c.bool(o.ignoreUriCase, joinPath(path, "ignoreUriCase")) ?? false,
  };
  const name = c.str(o.name, joinPath(path, "name"));
  if (name) m.name = name;
  for (const k of ["uri", "scheme", "method", "authority"] as const) {
    if (o[k] !== undefined) {
      const sm = checkStringMatch(c, o[k], joinPath(path, k), false);
      if (sm) m[k] = sm;
    }
  }
  const port = c.int(o.port, joinPath(path, "port"), { min: 1, max: 65535 });
  if (port !== undefined) m.port = port;
  const sl = c.strMap(o.sourceLabels, joinPath(path, "sourceLabels"));
  if (sl) m.sourceLabels = sl;
  const sn = c.str(o.sourceNamespace, joinPath(path, "sourceNamespace"));
  if (sn) m.sourceNamespace = sn;
  if (o.gateways !== undefined) m.gateways = c.strList(o.gateways, joinPath(path, "gateways"));
  return m;
}

function checkHeaderOps(c: Check, v: unknown, path: string): HeaderOps | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["set", "add", "remove"]);
  const ops: HeaderOps = { set: [], add: [], remove: [] };
  for (const k of ["set", "add"] as const) {
    const m = c.strMap(o[k], joinPath(path, k));
    if (!m) continue;
    for (const [name, value] of Object.entries(m)) {
      const p = joinPath(joinPath(path, k), name);
      if (!HEADER_NAME.test(name)) c.error(p, `"${name}" is not a valid header name`);
      else if (!SAFE_HEADER_VALUE.test(value)) c.error(p, "header value must not contain CR, LF or NUL");
      else ops[k].push([name.toLowerCase(), value]);
    }
  }
  c.strList(o.remove, joinPath(path, "remove")).forEach((name, i) => {
    if (!HEADER_NAME.test(name))
      c.error(joinPath(joinPath(path, "remove"), i), `"${name}" is not a valid header name`);
    else ops.remove.push(name.toLowerCase());
  });
  return ops;
}

export function checkHeaders(c: Check, v: unknown, path: string): Headers | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["request", "response"]);
  const h: Headers = {};
  const req = checkHeaderOps(c, o.request, joinPath(path, "request"));
  if (req) h.request = req;
  const res = checkHeaderOps(c, o.response, joinPath(path, "response"));
  if (res) h.response = res;
  return h;
}

function checkPort(c: Check, v: unknown, path: string): { number: number } | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["number"]);
  const n = c.int(o.number, joinPath(path, "number"), { required: true, min: 1, max: 65535 });
  return n === undefined ? undefined : { number: n };
}

function checkSubsetName(c: Check, subset: string | undefined, path: string): void {
  if (subset === undefined) return;
  const label = subsetTemplate(subset);
  if (label !== undefined) {
    if (!HEADER_NAME.test(label)) c.error(path, `"$${label}": label name must be a valid header name`);
  } else if (!/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(subset)) {
    c.error(path, `"${subset}" is not a valid subset name`);
  }
}

export function checkDestination(c: Check, v: unknown, path: string): Destination | undefined {
  const o = c.obj(v, path, true);
  if (!o) return undefined;
  c.fields(o, path, ["host", "subset", "port"]);
  const host = c.str(o.host, joinPath(path, "host"), true);
  const subset = c.str(o.subset, joinPath(path, "subset"));
  checkSubsetName(c, subset, joinPath(path, "subset"));
  const port = checkPort(c, o.port, joinPath(path, "port"));
  if (host === undefined) return undefined;
  const d: Destination = { host };
  if (subset) d.subset = subset;
  if (port) d.port = port;
  return d;
}

function checkFallback(c: Check, v: unknown, path: string, depth: number): Fallback | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["case", "target"]);
  const kase = c.str(o.case, joinPath(path, "case"), true);
  let noinstances = false;
  let noavailabled = false;
  if (kase !== undefined) {
    for (const part of kase.split("|").map((s) => s.trim())) {
      if (part === "noinstances") noinstances = true;
      else if (part === "noavailabled") noavailabled = true;
      else
        c.error(
          joinPath(path, "case"),
          `unknown fallback case "${part}" (expected noinstances, noavailabled)`,
        );
    }
  }
  const t = c.obj(o.target, joinPath(path, "target"), true);
  if (!t) return undefined;
  const tp = joinPath(path, "target");
  c.fields(t, tp, ["host", "subset", "port", "fallback"]);
  const host = c.str(t.host, joinPath(tp, "host"), true);
  const subset = c.str(t.subset, joinPath(tp, "subset"));
  checkSubsetName(c, subset, joinPath(tp, "subset"));
  const port = checkPort(c, t.port, joinPath(tp, "port"));
  let next: Fallback | undefined;
  if (t.fallback !== undefined) {
    if (depth >= 8) c.error(joinPath(tp, "fallback"), "fallback chain is deeper than 8 targets");
    else next = checkFallback(c, t.fallback, joinPath(tp, "fallback"), depth + 1);
  }
  if (host === undefined || kase === undefined) return undefined;
  const target: FallbackTarget = { host };
  if (subset) target.subset = subset;
  if (port) target.port = port;
  if (next) target.fallback = next;
  return { noinstances, noavailabled, target };
}

function checkRouteDestinations(c: Check, v: unknown, path: string): RouteDestination[] {
  const items = c.list(v, path);
  const out: RouteDestination[] = [];
  let weightsValid = true;
  items.forEach((item, i) => {
    const p = joinPath(path, i);
    const o = c.obj(item, p, true);
    if (!o) return;
    c.fields(o, p, ["destination", "weight", "headers", "fallback"]);
    const destination = checkDestination(c, o.destination, joinPath(p, "destination"));
    const weight = c.int(o.weight, joinPath(p, "weight"), { min: 0 });
    if (o.weight !== undefined && o.weight !== null && weight === undefined) weightsValid = false;
    const headers = checkHeaders(c, o.headers, joinPath(p, "headers"));
    const fallback = checkFallback(c, o.fallback, joinPath(p, "fallback"), 1);
    if (!destination) return;
    const rd: RouteDestination = { destination, weight: weight ?? (items.length === 1 ? 100 : 0) };
    if (o.weight === undefined && items.length > 1) rd.weight = -1; // resolved below
    if (headers) rd.headers = headers;
    if (fallback) rd.fallback = fallback;
    out.push(rd);
  });
  if (out.length > 1) {
    // Istio: a destination without weight in a multi-destination route gets 0 if others have one.
    const anyWeighted = out.some((d) => d.weight >= 0);
    for (const d of out) if (d.weight < 0) d.weight = anyWeighted ? 0 : 1;
    const total = out.reduce((s, d) => s + d.weight, 0);
    // Only judge the total when every weight was readable: a bad weight is already reported.
    if (total <= 0 && weightsValid && out.length === items.length)
      c.error(path, "weights must add up to more than 0");
  } else if (out.length === 1) {
    out[0]!.weight = 100; // a single destination receives all traffic whatever its weight
  }
  return out;
}

function checkMirror(c: Check, o: Obj, path: string): Mirror[] {
  const mirrors: Mirror[] = [];
  if (o.mirror !== undefined) {
    const d = checkDestination(c, o.mirror, joinPath(path, "mirror"));
    let pct = 100;
    if (o.mirrorPercentage !== undefined) {
      const mp = c.obj(o.mirrorPercentage, joinPath(path, "mirrorPercentage"));
      if (mp)
        pct =
          c.num(mp.value, joinPath(joinPath(path, "mirrorPercentage"), "value"), { min: 0, max: 100 }) ?? 100;
    } else if (o.mirrorPercent !== undefined) {
      pct = c.int(o.mirrorPercent, joinPath(path, "mirrorPercent"), { min: 0, max: 100 }) ?? 100;
    }
    if (d) mirrors.push({ destination: d, percentage: pct });
  }
  c.list(o.mirrors, joinPath(path, "mirrors")).forEach((item, i) => {
    const p = joinPath(joinPath(path, "mirrors"), i);
    const m = c.obj(item, p, true);
    if (!m) return;
    c.fields(m, p, ["destination", "percentage"]);
    const d = checkDestination(c, m.destination, joinPath(p, "destination"));
    let pct = 100;
    const mp = c.obj(m.percentage, joinPath(p, "percentage"));
    if (mp) pct = c.num(mp.value, joinPath(joinPath(p, "percentage"), "value"), { min: 0, max: 100 }) ?? 100;
    if (d) mirrors.push({ destination: d, percentage: pct });
  });
  if (o.mirror !== undefined && o.mirrors !== undefined)
    c.error(joinPath(path, "mirrors"), "cannot be set together with mirror");
  return mirrors;
}

function checkHttpRoute(c: Check, v: unknown, path: string): HTTPRoute | undefined {
  const o = c.obj(v, path, true);
  if (!o) return undefined;
  if (o.delegate !== undefined) {
    // Istio hands the rule to another VirtualService; Lanecar does not chain VirtualServices.
    c.warn(joinPath(path, "delegate"), "delegation is not supported by Lanecar; this rule is ignored");
    // Kept (and skipped by the route tables) so later rules keep their index in ids and paths.
    return { match: [], route: [], mirrors: [], delegated: true };
  }
  c.fields(
    o,
    path,
    [
      "name",
      "match",
      "route",
      "redirect",
      "directResponse",
      "rewrite",
      "timeout",
      "retries",
      "fault",
      "mirror",
      "mirrorPercentage",
      "mirrorPercent",
      "mirrors",
      "headers",
    ],
    ["corsPolicy"],
  );
  const r: HTTPRoute = {
    match: [],
    route: checkRouteDestinations(c, o.route, joinPath(path, "route")),
    mirrors: checkMirror(c, o, path),
  };
  const name = c.str(o.name, joinPath(path, "name"));
  if (name) r.name = name;
  c.list(o.match, joinPath(path, "match")).forEach((m, i) => {
    const mr = checkMatch(c, m, joinPath(joinPath(path, "match"), i));
    if (mr) r.match.push(mr);
  });
  const actions = ["route", "redirect", "directResponse"].filter((k) => o[k] !== undefined);
  if (actions.length === 0) c.error(path, "must set one of route, redirect, directResponse");
  else if (actions.length > 1) c.error(path, `only one action per rule; got ${actions.join(" and ")}`);
  if (o.route !== undefined && Array.isArray(o.route) && o.route.length === 0)
    c.error(joinPath(path, "route"), "must not be empty");
  const redirect = checkRedirect(c, o.redirect, joinPath(path, "redirect"));
  if (redirect) r.redirect = redirect;
  const dr = checkDirectResponse(c, o.directResponse, joinPath(path, "directResponse"));
  if (dr) r.directResponse = dr;
  const rewrite = checkRewrite(c, o.rewrite, joinPath(path, "rewrite"));
  if (rewrite) {
    if (o.redirect !== undefined || o.directResponse !== undefined) {
      c.error(joinPath(path, "rewrite"), "cannot be used with redirect or directResponse");
    }
    r.rewrite = rewrite;
  }
  const timeout = c.duration(o.timeout, joinPath(path, "timeout"));
  if (timeout !== undefined) {
    if (timeout > 0 && timeout < 1) c.error(joinPath(path, "timeout"), "must be >= 1ms");
    else r.timeoutMs = timeout;
  }
  const retries = checkRetries(c, o.retries, joinPath(path, "retries"));
  if (retries) r.retries = retries;
  const fault = checkFault(c, o.fault, joinPath(path, "fault"));
  if (fault) r.fault = fault;
  const headers = checkHeaders(c, o.headers, joinPath(path, "headers"));
  if (headers) r.headers = headers;
  if (r.mirrors.length > 0 && o.route === undefined) c.error(joinPath(path, "mirror"), "requires route");
  return r;
}

export function checkVirtualService(c: Check, spec: unknown): VirtualServiceSpec | undefined {
  const o = c.obj(spec, "spec", true);
  if (!o) return undefined;
  c.fields(o, "spec", ["hosts", "gateways", "http", "exportTo"], ["tcp", "tls"]);
  if (o.hosts === undefined || (Array.isArray(o.hosts) && o.hosts.length === 0)) {
    // Istio reads a VirtualService without hosts as a delegate, included by another one's `delegate`.
    c.warn("spec.hosts", "no hosts: a delegate VirtualService, which Lanecar does not support; ignored");
    return undefined;
  }
  const hosts = c.strList(o.hosts, "spec.hosts", true);
  hosts.forEach((h, i) => {
    if (
      h !== "*" &&
      !/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h)
    ) {
      c.error(`spec.hosts[${i}]`, `"${h}" is not a valid host`);
    }
  });
  const gateways = c.strList(o.gateways, "spec.gateways");
  const http: HTTPRoute[] = [];
  c.list(o.http, "spec.http").forEach((item, i) => {
    const r = checkHttpRoute(c, item, `spec.http[${i}]`);
    if (r) http.push(r);
  });
  if (o.exportTo !== undefined) c.strList(o.exportTo, "spec.exportTo");
  if (hosts.includes("*") && !gateways.some((g) => g !== "mesh")) {
    c.error("spec.hosts", '"*" is only allowed for VirtualServices bound to a gateway');
  }
  return { hosts, gateways: gateways.length ? gateways : ["mesh"], http };
}
