/**
 * SPIFFE IDs as Istio uses them: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`
 * in a certificate's URI SAN. The trust domain defaults to `cluster.local`.
 */

export const DEFAULT_TRUST_DOMAIN = "cluster.local";

export interface SpiffeIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** A trust domain: lower-case letters, digits, `.`, `-`, `_` (SPIFFE ID spec, section 2.1). */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
/** Kubernetes namespace and service account names: DNS labels / subdomains. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Why a part is not valid, or undefined. */
export function checkIdentityParts(p: SpiffeIdentity): string | undefined {
  if (!TRUST_DOMAIN.test(p.trustDomain))
    return `trust domain "${p.trustDomain}" is not valid (lower-case letters, digits, ".", "-", "_")`;
  if (!NAMESPACE.test(p.namespace)) return `namespace "${p.namespace}" is not a valid namespace name`;
  if (!SERVICE_ACCOUNT.test(p.serviceAccount))
    return `service account "${p.serviceAccount}" is not a valid service account name`;
  return undefined;
}

export function formatSpiffeId(p: SpiffeIdentity): string {
  return `spiffe://${p.trustDomain}/ns/${p.namespace}/sa/${p.serviceAccount}`;
}

/** Parses an Istio-shaped SPIFFE ID; undefined when it is not one. */
export function parseSpiffeId(uri: string): SpiffeIdentity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const p = { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
  return checkIdentityParts(p) ? undefined : p;
}

/** The `URI:` entries of a certificate's subjectAltName string (node:crypto's X509Certificate). */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const out: string[] = [];
  for (const part of subjectAltName.split(/,\s*/)) if (part.startsWith("URI:")) out.push(part.slice(4));
  return out;
}
