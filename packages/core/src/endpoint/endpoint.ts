/**
 * Endpoints and the availability view. An endpoint's identity (`key`, `address:port`) outlives
 * config snapshots, so health state kept by the proxy under that key survives a reload.
 */
import type { Probe } from "../resources/types.js";

export interface Endpoint {
  /** `address:port` (IPv6 in brackets). */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
  /** Active health check, when a WorkloadGroup's labels select this endpoint. */
  readonly probe: Probe | undefined;
  /** `ServiceEntry/ns/name`, `WorkloadEntry/ns/name` or `Pod/ns/name`. */
  readonly origin: string;
  /**
   * The platform's readiness (Kubernetes EndpointSlice `conditions.ready`); `false` makes the
   * endpoint unavailable (`noavailabled`) whatever its health. Absent means ready.
   */
  readonly ready?: boolean;
  /**
   * The workload's service account (WorkloadEntry `serviceAccount`, a Pod's
   * `spec.serviceAccountName`): with the namespace, the SPIFFE identity a mutual-TLS peer at this
   * endpoint must present. Absent when unknown.
   */
  readonly serviceAccount?: string;
}

/** What the data plane knows about endpoint health and load. Core only reads it. */
export interface Availability {
  isAvailable(ep: Endpoint): boolean;
  /** In-flight requests to the endpoint (LEAST_REQUEST); 0 when unknown. */
  activeRequests(ep: Endpoint): number;
}

/** Every ready endpoint available, none loaded: the view `explain` and tests start from. */
export const ALL_AVAILABLE: Availability = {
  isAvailable: (ep) => ep.ready !== false,
  activeRequests: () => 0,
};

/** An availability view that treats the given endpoint keys as down. */
export function availabilityExcept(down: Iterable<string>): Availability {
  const set = new Set(down);
  return { isAvailable: (ep) => ep.ready !== false && !set.has(ep.key), activeRequests: () => 0 };
}

export function endpointKey(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}
