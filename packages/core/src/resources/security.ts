/**
 * PeerAuthentication and AuthorizationPolicy (security.istio.io) as config kinds: the YAML shape
 * is read here with source positions (lists, mappings, strings), then Istio's semantic rules come
 * from the pure checks in ../authz, whose problems are reported at their field paths. The
 * sidecar's inbound listener enforces them (proxy inbound/inbound-security.ts).
 */
import type {
  AuthorizationPolicySpec,
  AuthzAction,
  AuthzCondition,
  AuthzOperation,
  AuthzRule,
  AuthzSource,
} from "../authz/authorization-policy.js";
import { checkAuthorizationPolicy } from "../authz/authorization-policy-check.js";
import { checkPeerAuthentication, type PeerAuthenticationSpec } from "../authz/peer-authentication.js";
import type { Check, Obj } from "./check.js";
import { joinPath } from "./source.js";

const SOURCE_FIELDS = [
  "principals",
  "notPrincipals",
  "requestPrincipals",
  "notRequestPrincipals",
  "namespaces",
  "notNamespaces",
  "ipBlocks",
  "notIpBlocks",
  "remoteIpBlocks",
  "notRemoteIpBlocks",
] as const;
const OPERATION_FIELDS = [
  "hosts",
  "notHosts",
  "ports",
  "notPorts",
  "methods",
  "notMethods",
  "paths",
  "notPaths",
] as const;

/** `selector: {matchLabels: {...}}` as both kinds write it. */
function selector(c: Check, v: unknown, path: string): { matchLabels?: Record<string, string> } | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["matchLabels"]);
  const labels = c.strMap(o.matchLabels, joinPath(path, "matchLabels"));
  return labels ? { matchLabels: labels } : {};
}

/** A mapping of string lists (`source`, `operation`); an empty one is an error as in Istio. */
function lists<K extends string>(
  c: Check,
  v: unknown,
  path: string,
  fields: readonly K[],
): Partial<Record<K, string[]>> | undefined {
  // Missing: the authz check says "must be set"; not a mapping: reported here, once.
  if (v === undefined || v === null) return undefined;
  const o = c.obj(v, path);
  if (!o) return {};
  c.fields(o, path, fields);
  const out: Partial<Record<K, string[]>> = {};
  for (const k of fields) if (o[k] !== undefined) out[k] = c.strList(o[k], joinPath(path, k));
  // Istio rejects a source/operation that names nothing (`source: {}`, `principals: []`).
  if (!fields.some((k) => o[k] !== undefined && !(Array.isArray(o[k]) && o[k].length === 0)))
    c.error(path, "must not be empty");
  return out;
}

function rule(c: Check, v: unknown, p: string): AuthzRule {
  const o = c.obj(v, p) ?? {};
  c.fields(o, p, ["from", "to", "when"]);
  const r: AuthzRule = {};
  if (o.from !== undefined)
    r.from = c.list(o.from, joinPath(p, "from")).map((f, j) => {
      const fp = `${p}.from[${j}]`;
      const fo: Obj = c.obj(f, fp, true) ?? {};
      c.fields(fo, fp, ["source"]);
      return { source: lists(c, fo.source, `${fp}.source`, SOURCE_FIELDS) as AuthzSource | undefined };
    });
  if (o.to !== undefined)
    r.to = c.list(o.to, joinPath(p, "to")).map((t, j) => {
      const tp = `${p}.to[${j}]`;
      const to: Obj = c.obj(t, tp, true) ?? {};
      c.fields(to, tp, ["operation"]);
      return {
        operation: lists(c, to.operation, `${tp}.operation`, OPERATION_FIELDS) as AuthzOperation | undefined,
      };
    });
  if (o.when !== undefined)
    r.when = c.list(o.when, joinPath(p, "when")).map((w, j): AuthzCondition => {
      const wp = `${p}.when[${j}]`;
      const wo: Obj = c.obj(w, wp, true) ?? {};
      c.fields(wo, wp, ["key", "values", "notValues"]);
      const cond: AuthzCondition = { key: c.str(wo.key, joinPath(wp, "key")) ?? "" };
      if (wo.values !== undefined) cond.values = c.strList(wo.values, joinPath(wp, "values"));
      if (wo.notValues !== undefined) cond.notValues = c.strList(wo.notValues, joinPath(wp, "notValues"));
      return cond;
    });
  return r;
}

export function checkAuthorizationPolicyResource(
  c: Check,
  spec: unknown,
): AuthorizationPolicySpec | undefined {
  // `spec: {}` is Istio's documented allow-nothing policy; a missing spec means the same.
  const o = spec === undefined || spec === null ? {} : c.obj(spec, "spec");
  if (!o) return undefined;
  c.fields(o, "spec", ["selector", "targetRef", "targetRefs", "action", "provider", "rules"]);
  const ap: AuthorizationPolicySpec = {};
  const sel = selector(c, o.selector, "spec.selector");
  if (sel) ap.selector = sel;
  if (o.targetRef !== undefined) ap.targetRef = c.obj(o.targetRef, "spec.targetRef");
  if (o.targetRefs !== undefined) ap.targetRefs = c.list(o.targetRefs, "spec.targetRefs");
  if (sel && (ap.targetRef || ap.targetRefs?.length))
    c.error("spec.selector", "only one of selector or targetRef(s) can be set");
  const action = c.str(o.action, "spec.action");
  if (action !== undefined) ap.action = action as AuthzAction;
  const provider = c.obj(o.provider, "spec.provider");
  if (provider) {
    c.fields(provider, "spec.provider", ["name"]);
    ap.provider = { name: c.str(provider.name, "spec.provider.name", true) };
  }
  if (ap.action === "CUSTOM" && !provider) c.error("spec.provider", "is required with action CUSTOM");
  if (o.rules !== undefined)
    ap.rules = c.list(o.rules, "spec.rules").map((r, i) => rule(c, r, `spec.rules[${i}]`));
  for (const p of checkAuthorizationPolicy(ap)) c.report(p.severity, p.path, p.message);
  return ap;
}

type ModeBox = NonNullable<PeerAuthenticationSpec["mtls"]>;

function mode(c: Check, v: unknown, path: string): ModeBox | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(o, path, ["mode"]);
  const m = c.str(o.mode, joinPath(path, "mode"));
  return m === undefined ? {} : { mode: m as ModeBox["mode"] };
}

export function checkPeerAuthenticationResource(c: Check, spec: unknown): PeerAuthenticationSpec | undefined {
  const o = spec === undefined || spec === null ? {} : c.obj(spec, "spec");
  if (!o) return undefined;
  c.fields(o, "spec", ["selector", "mtls", "portLevelMtls"]);
  const pa: PeerAuthenticationSpec = {};
  const sel = selector(c, o.selector, "spec.selector");
  if (sel) pa.selector = sel;
  const mtls = mode(c, o.mtls, "spec.mtls");
  if (mtls) pa.mtls = mtls;
  const ports = c.obj(o.portLevelMtls, "spec.portLevelMtls");
  if (ports) {
    pa.portLevelMtls = {};
    for (const [port, v] of Object.entries(ports))
      pa.portLevelMtls[port] = mode(c, v, joinPath("spec.portLevelMtls", port)) ?? {};
  }
  for (const p of checkPeerAuthentication(pa, c.res.namespace)) c.report(p.severity, p.path, p.message);
  return pa;
}
