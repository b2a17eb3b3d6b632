/**
 * Istio AuthorizationPolicy (`security.istio.io/v1`, `v1beta1`) for one workload: which policies
 * apply to it, and the decision for a request, in Istio's order —
 *   1. a matching DENY (or CUSTOM, see below) policy denies;
 *   2. no ALLOW policy for the workload: allow;
 *   3. a matching ALLOW policy allows;
 *   4. otherwise deny.
 * AUDIT policies never change the decision (a match is reported as `audit`).
 *
 * A rule matches when its `from` (any source), `to` (any operation) and every `when` condition
 * match; inside a source or operation every field given must match, and inside a field any value.
 * What Lanecar cannot evaluate (JWT `requestPrincipals` / `request.auth.*`, `destination.ip`, SNI)
 * follows Istio's rule for fields a proxy cannot enforce: an ALLOW rule using it matches nothing,
 * a DENY rule ignores it (and so denies more). CUSTOM (external authorization) is not proxied:
 * it fails closed, denying what it matches.
 *
 * Pure: policies and a request description in, a decision out.
 */
import { BlockList, isIP } from "node:net";
import { anyOf, type Matcher } from "./string-match.js";

export type AuthzAction = "ALLOW" | "DENY" | "AUDIT" | "CUSTOM";

export interface AuthzSource {
  principals?: string[];
  notPrincipals?: string[];
  requestPrincipals?: string[];
  notRequestPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  ipBlocks?: string[];
  notIpBlocks?: string[];
  remoteIpBlocks?: string[];
  notRemoteIpBlocks?: string[];
}

export interface AuthzOperation {
  hosts?: string[];
  notHosts?: string[];
  ports?: string[];
  notPorts?: string[];
  methods?: string[];
  notMethods?: string[];
  paths?: string[];
  notPaths?: string[];
}

export interface AuthzCondition {
  key: string;
  values?: string[];
  notValues?: string[];
}

export interface AuthzRule {
  from?: { source?: AuthzSource }[];
  to?: { operation?: AuthzOperation }[];
  when?: AuthzCondition[];
}

export interface AuthorizationPolicySpec {
  selector?: { matchLabels?: Record<string, string> };
  targetRef?: unknown;
  targetRefs?: unknown[];
  action?: AuthzAction;
  provider?: { name?: string };
  rules?: AuthzRule[];
}

export interface NamedPolicy<S> {
  namespace: string;
  name: string;
  spec: S;
}

/** What the inbound listener knows about a request. */
export interface AuthzRequest {
  /** The peer's verified identity without `spiffe://` (`cluster.local/ns/default/sa/sleep`); none on plaintext. */
  principal: string | undefined;
  /** The namespace in `principal`, when the caller worked it out once (per connection); else derived. */
  sourceNamespace?: string | undefined;
  sourceIp: string | undefined;
  /** Host header (authority). */
  host: string;
  method: string;
  /** Request target; the query string is ignored for `paths`. */
  path: string;
  /** The workload port the request arrived for. */
  port: number;
  header(name: string): string | undefined;
}

export interface AuthzDecision {
  allowed: boolean;
  /** `namespace/name` of the policy that decided, null when no policy applies or none matched. */
  policy: string | null;
  reason: "no-policy" | "denied" | "allowed" | "no-allow-match";
  /** The deciding policy's action (DENY for a CUSTOM policy that failed closed too), null without one. */
  action: AuthzAction | null;
  /** Index in the deciding policy's `rules` of the rule that matched, null without one. */
  rule: number | null;
  /** An AUDIT policy matched. */
  audit: boolean;
}

export interface Workload {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

export const ROOT_NAMESPACE = "istio-system";

type Pred = (r: AuthzRequest) => boolean;
/** A predicate, or UNSUPPORTED for what Lanecar cannot evaluate. */
export const UNSUPPORTED: unique symbol = Symbol("unsupported");
type Part = Pred | typeof UNSUPPORTED;

/** Does a policy apply to this workload (Istio: root namespace = mesh-wide; selector by labels)? */
export function policyApplies(
  p: NamedPolicy<{
    selector?: { matchLabels?: Record<string, string> };
    targetRef?: unknown;
    targetRefs?: unknown[];
  }>,
  w: Workload,
  rootNamespace = ROOT_NAMESPACE,
): boolean {
  if (p.spec.targetRef || (p.spec.targetRefs && p.spec.targetRefs.length > 0)) return false; // gateways/waypoints
  if (p.namespace !== w.namespace && p.namespace !== rootNamespace) return false;
  const want = p.spec.selector?.matchLabels;
  if (!want) return true;
  for (const k in want) if (w.labels[k] !== want[k]) return false;
  return true;
}

/** The `ns` of `td/ns/<ns>/sa/<sa>`, or undefined. */
export function principalNamespace(principal: string | undefined): string | undefined {
  if (!principal) return undefined;
  const m = /\/ns\/([^/]+)\//.exec(principal);
  return m?.[1];
}

function sourceNamespace(r: AuthzRequest): string | undefined {
  return r.sourceNamespace ?? principalNamespace(r.principal);
}

function cidrs(list: readonly string[]): BlockList {
  const b = new BlockList();
  for (const c of list) {
    const [addr, bits] = c.split("/");
    const family = isIP(addr!) === 6 ? "ipv6" : "ipv4";
    if (bits === undefined) b.addAddress(addr!, family);
    else b.addSubnet(addr!, Number(bits), family);
  }
  return b;
}

function ipMatcher(list: readonly string[] | undefined): Matcher | undefined {
  if (!list || list.length === 0) return undefined;
  const b = cidrs(list);
  return (v) => {
    if (!v) return false;
    const ip = v.startsWith("::ffff:") ? v.slice(7) : v;
    const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
    return isIP(ip) !== 0 && b.check(ip, family);
  };
}

function hostOnly(h: string): string {
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const i = h.lastIndexOf(":");
  return i > 0 ? h.slice(0, i) : h;
}

function pathOnly(p: string): string {
  // A scan, not a regex: this runs for every request a `paths` rule sees.
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return p.slice(0, i);
  }
  return p;
}

/** `field` must match (`yes`) and must not match (`no`): both optional. */
function both(get: (r: AuthzRequest) => string | undefined, yes?: Matcher, no?: Matcher): Pred | undefined {
  if (!yes && !no) return undefined;
  return (r) => {
    const v = get(r);
    if (yes && !yes(v)) return false;
    if (no?.(v)) return false;
    return true;
  };
}

function all(parts: Part[], dropUnsupported: boolean): Part {
  const preds: Pred[] = [];
  for (const p of parts) {
    if (p === UNSUPPORTED) {
      if (!dropUnsupported) return UNSUPPORTED;
    } else preds.push(p);
  }
  return (r) => {
    for (const p of preds) if (!p(r)) return false;
    return true;
  };
}

function anyPart(parts: Part[]): Part {
  const preds = parts.filter((p): p is Pred => p !== UNSUPPORTED);
  if (preds.length === 0) return parts.length > 0 ? UNSUPPORTED : () => true;
  return (r) => {
    for (const p of preds) if (p(r)) return true;
    return false;
  };
}

function compileSource(s: AuthzSource, deny: boolean): Part {
  const parts: (Part | undefined)[] = [
    both((r) => r.principal, anyOf(s.principals), anyOf(s.notPrincipals)),
    both(sourceNamespace, anyOf(s.namespaces), anyOf(s.notNamespaces)),
    both((r) => r.sourceIp, ipMatcher(s.ipBlocks), ipMatcher(s.notIpBlocks)),
    both((r) => r.sourceIp, ipMatcher(s.remoteIpBlocks), ipMatcher(s.notRemoteIpBlocks)),
    s.requestPrincipals?.length || s.notRequestPrincipals?.length ? UNSUPPORTED : undefined,
  ];
  return all(
    parts.filter((p): p is Part => p !== undefined),
    deny,
  );
}

function compileOperation(o: AuthzOperation): Part {
  const hosts = anyOf(o.hosts, true);
  const notHosts = anyOf(o.notHosts, true);
  const hostPred =
    hosts || notHosts
      ? (r: AuthzRequest) => {
          const h = r.host;
          const bare = hostOnly(h);
          if (hosts && !hosts(h) && !hosts(bare)) return false;
          if (notHosts && (notHosts(h) || notHosts(bare))) return false;
          return true;
        }
      : undefined;
  const parts = [
    hostPred,
    both((r) => String(r.port), anyOf(o.ports), anyOf(o.notPorts)),
    both((r) => r.method, anyOf(o.methods), anyOf(o.notMethods)),
    both((r) => pathOnly(r.path), anyOf(o.paths), anyOf(o.notPaths)),
  ].filter((p): p is Pred => p !== undefined);
  return all(parts, false);
}

const HEADER_KEY = /^request\.headers\[(.+)\]$/;

/** The request attribute a `when` key names, or UNSUPPORTED / undefined (unknown key). */
export function conditionGetter(
  key: string,
): ((r: AuthzRequest) => string | undefined) | typeof UNSUPPORTED | undefined {
  const h = HEADER_KEY.exec(key);
  if (h) {
    const name = h[1]!.toLowerCase();
    return (r) => r.header(name);
  }
  switch (key) {
    case "source.ip":
    case "remote.ip":
      return (r) => r.sourceIp;
    case "source.namespace":
      return sourceNamespace;
    case "source.principal":
      return (r) => r.principal;
    case "destination.port":
      return (r) => String(r.port);
  }
  if (
    key.startsWith("request.auth.") ||
    key.startsWith("experimental.") ||
    key === "destination.ip" ||
    key === "connection.sni"
  )
    return UNSUPPORTED;
  return undefined;
}

function compileCondition(c: AuthzCondition): Part {
  const get = conditionGetter(c.key);
  if (get === UNSUPPORTED || get === undefined) return UNSUPPORTED;
  const ip = c.key === "source.ip" || c.key === "remote.ip";
  const yes = ip ? ipMatcher(c.values) : anyOf(c.values);
  const no = ip ? ipMatcher(c.notValues) : anyOf(c.notValues);
  return both(get, yes, no) ?? (() => true);
}

function compileRule(rule: AuthzRule, deny: boolean): Part {
  const parts: Part[] = [];
  if (rule.from?.length) parts.push(anyPart(rule.from.map((f) => compileSource(f.source ?? {}, deny))));
  if (rule.to?.length) parts.push(anyPart(rule.to.map((t) => compileOperation(t.operation ?? {}))));
  for (const c of rule.when ?? []) parts.push(compileCondition(c));
  return all(parts, deny);
}

interface Compiled {
  id: string;
  action: AuthzAction;
  rules: Pred[];
  /** `rules[i]` is the policy's rule `index[i]` (ALLOW rules Lanecar cannot evaluate are left out). */
  index: number[];
  /** The decision when `rules[i]` matches, built once: without and with an AUDIT match. */
  decisions: AuthzDecision[];
  audited: AuthzDecision[];
}

function compilePolicy(p: NamedPolicy<AuthorizationPolicySpec>): Compiled {
  const action = p.spec.action ?? "ALLOW";
  const deny = action === "DENY" || action === "CUSTOM";
  const rules: Pred[] = [];
  const index: number[] = [];
  (p.spec.rules ?? []).forEach((r, i) => {
    const c = compileRule(r, deny);
    // An ALLOW rule Lanecar cannot evaluate matches nothing; a DENY rule was compiled without
    // the unsupported parts (dropUnsupported), so it cannot be UNSUPPORTED here.
    if (c !== UNSUPPORTED) {
      rules.push(c);
      index.push(i);
    }
  });
  const id = `${p.namespace}/${p.name}`;
  const decision = (rule: number, audit: boolean): AuthzDecision =>
    Object.freeze({
      allowed: !deny,
      policy: id,
      reason: deny ? "denied" : "allowed",
      action,
      rule,
      audit,
    });
  return {
    id,
    action,
    rules,
    index,
    decisions: index.map((i) => decision(i, false)),
    audited: index.map((i) => decision(i, true)),
  };
}

/** The position (in `c.rules`) of the first rule that matches, or -1. */
function matching(c: Compiled, r: AuthzRequest): number {
  for (let i = 0; i < c.rules.length; i++) if (c.rules[i]!(r)) return i;
  return -1;
}

const NO_POLICY: AuthzDecision = Object.freeze({
  allowed: true,
  policy: null,
  reason: "no-policy",
  action: null,
  rule: null,
  audit: false,
});
const NO_POLICY_AUDITED: AuthzDecision = Object.freeze({ ...NO_POLICY, audit: true });
const NO_ALLOW_MATCH: AuthzDecision = Object.freeze({
  allowed: false,
  policy: null,
  reason: "no-allow-match",
  action: null,
  rule: null,
  audit: false,
});
const NO_ALLOW_MATCH_AUDITED: AuthzDecision = Object.freeze({ ...NO_ALLOW_MATCH, audit: true });

/** The AuthorizationPolicies of one workload, compiled once per config snapshot. */
export class Authorizer {
  private readonly deny: Compiled[];
  private readonly allow: Compiled[];
  private readonly audit: Compiled[];
  /** True when any policy applies to the workload (else every request is allowed, untouched). */
  readonly active: boolean;

  constructor(
    policies: readonly NamedPolicy<AuthorizationPolicySpec>[],
    workload: Workload,
    rootNamespace = ROOT_NAMESPACE,
  ) {
    const mine = policies
      .filter((p) => policyApplies(p, workload, rootNamespace))
      .map(compilePolicy)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.deny = mine.filter((c) => c.action === "DENY" || c.action === "CUSTOM");
    this.allow = mine.filter((c) => c.action === "ALLOW");
    this.audit = mine.filter((c) => c.action === "AUDIT");
    this.active = mine.length > 0;
  }

  /** Allocates nothing: every decision object is built at compile time. */
  decide(r: AuthzRequest): AuthzDecision {
    if (!this.active) return NO_POLICY;
    let audit = false;
    for (const c of this.audit) if (matching(c, r) >= 0) audit = true;
    for (const c of this.deny) {
      const i = matching(c, r);
      if (i >= 0) return (audit ? c.audited : c.decisions)[i]!;
    }
    if (this.allow.length === 0) return audit ? NO_POLICY_AUDITED : NO_POLICY;
    for (const c of this.allow) {
      const i = matching(c, r);
      if (i >= 0) return (audit ? c.audited : c.decisions)[i]!;
    }
    return audit ? NO_ALLOW_MATCH_AUDITED : NO_ALLOW_MATCH;
  }
}
