/**
 * Istio's standard label set for `istio_requests_total` and the request histograms, filled the way
 * istio/proxy's stats filter fills it for each reporter. The labels split in two:
 *
 * - `EDGE_LABELS`: fixed for one edge — who calls, who is called, which service — so they are
 *   computed once per peer (inbound) or per endpoint and service (outbound, gateway);
 * - `PER_REQUEST_LABELS`: `response_code`, `response_flags`, and Lanecar's `lane` and `fallback`.
 *
 * Where Istio reports `unknown` (a peer that did not say who it is, no endpoint chosen, no mTLS
 * principal yet) so does Lanecar; a missing canonical revision is `latest`, as in Istio.
 */
import type { WorkloadMetadata } from "./workload-metadata.js";

export const EDGE_LABELS = [
  "reporter",
  "source_workload",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_canonical_service",
  "source_canonical_revision",
  "source_cluster",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_service",
  "destination_service_name",
  "destination_service_namespace",
  "destination_canonical_service",
  "destination_canonical_revision",
  "destination_cluster",
  "request_protocol",
  "grpc_response_status",
  "connection_security_policy",
] as const;

export const PER_REQUEST_LABELS = ["response_code", "response_flags", "lane", "fallback"] as const;

export const REQUEST_LABELS: readonly string[] = [...EDGE_LABELS, ...PER_REQUEST_LABELS];

export type Reporter = "source" | "destination";

/** `destination_service`, `destination_service_name`, `destination_service_namespace`. */
export interface ServiceNames {
  host: string;
  name: string;
  namespace: string;
}

const UNKNOWN = "unknown";
const or = (v: string, dflt = UNKNOWN): string => v || dflt;

/**
 * Names of a service host: a Kubernetes-style FQDN (`reviews.default.svc.cluster.local`) gives
 * name `reviews` and namespace `default`; any other host (a ServiceEntry's `httpbin.org`) is its
 * own name, in the namespace given (the ServiceEntry's), as Istio names them.
 */
export function serviceNames(host: string, namespace = ""): ServiceNames {
  const parts = host.split(".");
  if (parts.length >= 4 && parts[2] === "svc") return { host, name: parts[0]!, namespace: parts[1]! };
  return { host, name: host, namespace };
}

/**
 * What the connection a request came on says at the destination: with mutual TLS, both SPIFFE
 * IDs (the peer's from its verified certificate, this workload's own) and `mutual_tls`; on
 * plaintext, `unknown` principals and `none` — as istio/proxy's stats filter reports them.
 */
export interface ConnectionSecurity {
  sourcePrincipal: string;
  destinationPrincipal: string;
  policy: "mutual_tls" | "none";
}

export const PLAINTEXT_SECURITY: ConnectionSecurity = Object.freeze({
  sourcePrincipal: UNKNOWN,
  destinationPrincipal: UNKNOWN,
  policy: "none",
});

/** The eight labels of one side: workload, namespace, principal, app, version, canonical service and revision, cluster. */
function side(m: WorkloadMetadata | undefined, principal = UNKNOWN): string[] {
  return [
    or(m?.workload ?? ""),
    or(m?.namespace ?? ""),
    // Principals come with mutual TLS (SPEC section 12): the verified certificates' SPIFFE IDs.
    principal,
    or(m?.app ?? ""),
    or(m?.version ?? ""),
    or(m?.canonicalService ?? ""),
    or(m?.canonicalRevision ?? "", "latest"),
    or(m?.cluster ?? ""),
  ];
}

/**
 * `reporter="destination"` (the sidecar's inbound listener): the source is the peer the request's
 * metadata header named (unknown without one); the destination is this workload and the service
 * it serves; principals and the security policy from the connection.
 */
export function destinationEdgeLabels(
  local: WorkloadMetadata,
  service: ServiceNames,
  peer: WorkloadMetadata | undefined,
  security: ConnectionSecurity = PLAINTEXT_SECURITY,
): string[] {
  const dst = side(local, security.destinationPrincipal);
  return [
    "destination",
    ...side(peer, security.sourcePrincipal),
    ...dst.slice(0, 5),
    or(service.host),
    or(service.name),
    or(local.namespace),
    dst[5]!,
    dst[6]!,
    dst[7]!,
    "http",
    "",
    // At the destination Istio says `mutual_tls` or `none`; at the source, `unknown`.
    security.policy,
  ];
}

/**
 * `reporter="source"` (the outbound listener, and the gateway, as in Istio): the source is this
 * workload; the destination is the chosen endpoint's workload (unknown when none was chosen) and
 * the service the request was routed to; the principals are the mutual-TLS identities, if any.
 */
export function sourceEdgeLabels(
  local: WorkloadMetadata,
  service: ServiceNames,
  peer: WorkloadMetadata | undefined,
  sourcePrincipal = "",
  destinationPrincipal = "",
): string[] {
  const src = side(local);
  const dst = side(peer);
  // Over mutual TLS: this workload's SPIFFE ID and the one the peer's certificate proved.
  src[2] = or(sourcePrincipal);
  dst[2] = or(destinationPrincipal);
  return [
    "source",
    ...src,
    ...dst.slice(0, 5),
    or(service.host),
    or(service.name),
    or(peer?.namespace || service.namespace),
    dst[5]!,
    dst[6]!,
    dst[7]!,
    "http",
    "",
    // Istio: the source reporter cannot tell the policy, mutual TLS or not.
    UNKNOWN,
  ];
}
