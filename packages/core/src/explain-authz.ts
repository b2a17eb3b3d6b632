/**
 * The security view of an explained request, per destination workload: which AuthorizationPolicy
 * decides at the destination's sidecar (name, action, rule index), and the mTLS mode
 * PeerAuthentication gives the destination port. A workload is an endpoint's namespace (from its
 * origin `Kind/ns/name`) and labels. The caller is the `principal` given (`explain --principal`,
 * a mutual-TLS peer's SPIFFE ID), else plaintext: no principal, so `principals` and
 * `source.namespace` never match — and a STRICT port refuses the connection before any policy.
 * The caller's IP is unknown. The sidecar's inbound listener enforces both kinds.
 */
import { Authorizer, type AuthzDecision, type AuthzRequest } from "./authz/authorization-policy.js";
import { type MtlsDecision, mtlsModeFor } from "./authz/peer-authentication.js";
import type { ExplainedActions } from "./explain-actions.js";
import type { HeaderGetter } from "./label/resolver.js";
import type { ConfigSnapshot } from "./snapshot.js";

export interface ExplainedAuthz {
  /** The destination workload: namespace and labels of its endpoints. */
  namespace: string;
  labels: Record<string, string>;
  port: number;
  /** `address:port` of the endpoints of this workload and port. */
  endpoints: string[];
  allowed: boolean;
  /** `namespace/name` of the policy that decided, null when none applies or none matched. */
  policy: string | null;
  reason: AuthzDecision["reason"];
  /** The deciding policy's action and the index of its rule that matched (null without one). */
  action: AuthzDecision["action"];
  rule: number | null;
  audit: boolean;
  mtls: MtlsDecision;
  /** The caller's SPIFFE ID as judged (`spiffe://...`), null for plaintext. */
  principal: string | null;
  /** Plaintext to a STRICT port: the connection is refused before authorization. */
  refused: boolean;
}

interface ExplainedEndpointLike {
  address: string;
  port: number;
  labels: Readonly<Record<string, string>>;
  origin: string;
}

/** `ServiceEntry/ns/name`, `WorkloadEntry/ns/name`, `Pod/ns/name` → `ns`. */
function namespaceOf(origin: string, fallback: string): string {
  const parts = origin.split("/");
  return parts.length === 3 && parts[1] ? parts[1] : fallback;
}

function labelKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

/** One entry per destination workload and port, in endpoint order. */
export function explainAuthz(
  snapshot: ConfigSnapshot,
  endpoints: readonly ExplainedEndpointLike[],
  req: { method: string; path: string; authority: string; header: HeaderGetter },
  actions: Pick<ExplainedActions, "rewrite">,
  serviceNamespace: string,
  /** The caller's SPIFFE ID (`spiffe://td/ns/x/sa/y`, or without the scheme); undefined: plaintext. */
  principal?: string,
): ExplainedAuthz[] {
  const bare = principal?.startsWith(SPIFFE) ? principal.slice(SPIFFE.length) : principal;
  const byKey = new Map<string, ExplainedAuthz>();
  const authorizers = new Map<string, Authorizer>();
  for (const ep of endpoints) {
    const namespace = namespaceOf(ep.origin, serviceNamespace);
    const wkey = `${namespace}|${labelKey(ep.labels)}`;
    const key = `${wkey}|${ep.port}`;
    const seen = byKey.get(key);
    if (seen) {
      seen.endpoints.push(`${ep.address}:${ep.port}`);
      continue;
    }
    const workload = { namespace, labels: ep.labels };
    let authorizer = authorizers.get(wkey);
    if (!authorizer) {
      authorizer = new Authorizer(snapshot.authorizationPolicies, workload);
      authorizers.set(wkey, authorizer);
    }
    // What the destination's sidecar would see: the rewritten path and authority, the peer identity.
    const r: AuthzRequest = {
      principal: bare,
      sourceIp: undefined,
      host: actions.rewrite?.authority ?? req.authority,
      method: req.method,
      path: actions.rewrite?.path ?? req.path,
      port: ep.port,
      header: req.header,
    };
    const d = authorizer.decide(r);
    const mtls = mtlsModeFor(snapshot.peerAuthentications, workload, ep.port);
    byKey.set(key, {
      namespace,
      labels: { ...ep.labels },
      port: ep.port,
      endpoints: [`${ep.address}:${ep.port}`],
      allowed: d.allowed,
      policy: d.policy,
      reason: d.reason,
      action: d.action,
      rule: d.rule,
      audit: d.audit,
      mtls,
      principal: bare === undefined ? null : SPIFFE + bare,
      refused: bare === undefined && mtls.mode === "STRICT",
    });
  }
  return [...byKey.values()];
}

const SPIFFE = "spiffe://";

/** `allowed by default/reviews-viewer (ALLOW rule 0)`, `denied (403 RBAC): no ALLOW policy matches`, ... */
export function describeAuthz(a: ExplainedAuthz): string {
  const by = `${a.policy} (${a.action} rule ${a.rule})`;
  const verdict = a.refused
    ? "refused: plaintext on a STRICT port (no policy is consulted)"
    : a.reason === "allowed"
      ? `allowed by ${by}`
      : a.reason === "denied"
        ? `denied (403 RBAC) by ${by}`
        : a.reason === "no-policy"
          ? "allowed: no ALLOW policy applies"
          : "denied (403 RBAC): no ALLOW policy matches";
  const labels = labelKey(a.labels) || "no labels";
  const mtls = `mTLS ${a.mtls.mode} (${a.mtls.policy ?? "default"})`;
  return `workload ${a.namespace} {${labels}} port ${a.port}: ${verdict}${a.audit ? ", audited" : ""}; ${mtls}`;
}

/** Said once whenever security policies are shown: who the caller was taken to be. */
export function authzNote(principal: string | undefined): string {
  return principal
    ? `as a mutual-TLS caller ${principal.startsWith(SPIFFE) ? principal : SPIFFE + principal}; the source IP is unknown`
    : "as plaintext: no principal (give --principal for a mutual-TLS caller); the source IP is unknown";
}
