/**
 * The security view of an explained request, per destination workload: which AuthorizationPolicy
 * would decide at the destination's sidecar, and the mTLS mode PeerAuthentication gives the
 * destination port. A workload is an endpoint's namespace (from its origin `Kind/ns/name`) and
 * labels. Explain has no peer certificate — Lanecar does not do mutual TLS yet — so the request
 * is judged as plaintext: principals (and `source.namespace`) never match; the caller's IP is
 * unknown too. Informational: the data path does not enforce either kind yet.
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
  audit: boolean;
  mtls: MtlsDecision;
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
): ExplainedAuthz[] {
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
    // What the destination's sidecar would see: the rewritten path and authority, no peer identity.
    const r: AuthzRequest = {
      principal: undefined,
      sourceIp: undefined,
      host: actions.rewrite?.authority ?? req.authority,
      method: req.method,
      path: actions.rewrite?.path ?? req.path,
      port: ep.port,
      header: req.header,
    };
    const d = authorizer.decide(r);
    byKey.set(key, {
      namespace,
      labels: { ...ep.labels },
      port: ep.port,
      endpoints: [`${ep.address}:${ep.port}`],
      allowed: d.allowed,
      policy: d.policy,
      reason: d.reason,
      audit: d.audit,
      mtls: mtlsModeFor(snapshot.peerAuthentications, workload, ep.port),
    });
  }
  return [...byKey.values()];
}

/** `allowed by default/reviews-viewer`, `denied: no ALLOW policy matches`, ... */
export function describeAuthz(a: ExplainedAuthz): string {
  const verdict =
    a.reason === "allowed" || a.reason === "denied"
      ? `${a.reason} by ${a.policy}`
      : a.reason === "no-policy"
        ? "allowed: no ALLOW policy applies"
        : "denied: no ALLOW policy matches";
  const labels = labelKey(a.labels) || "no labels";
  const mtls = `mTLS ${a.mtls.mode} (${a.mtls.policy ?? "default"})`;
  return `workload ${a.namespace} {${labels}} port ${a.port}: ${verdict}${a.audit ? ", audited" : ""}; ${mtls}`;
}

/** Said once whenever security policies are shown. */
export const AUTHZ_NOTE =
  "authorization as plaintext: principals never match, the source IP is unknown; not enforced by the data path yet (no mutual TLS)";
