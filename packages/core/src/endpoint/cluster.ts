/**
 * A cluster is (service, port, subset): the endpoints a destination resolves to, the traffic
 * policy that applies to them (DestinationRule merged with the subset's own), and a balancer.
 * Clusters are built once per config snapshot and cached; availability is a separate view.
 */
import type { ServicePort, TrafficPolicy } from "../resources/types.js";
import { type Balancer, makeBalancer } from "./balancer.js";
import type { Availability, Endpoint } from "./endpoint.js";

export interface Service {
  /** FQDN. */
  readonly host: string;
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  readonly location: "MESH_EXTERNAL" | "MESH_INTERNAL";
  /** `ServiceEntry/ns/name`. */
  readonly origin: string;
}

export class Cluster {
  readonly key: string;
  /** Envoy-style name: `outbound|9080|gray|reviews.default.svc.cluster.local`. */
  readonly name: string;
  private readonly balancer: Balancer;

  constructor(
    readonly service: Service,
    readonly port: ServicePort,
    readonly subset: string | undefined,
    readonly endpoints: readonly Endpoint[],
    readonly policy: TrafficPolicy,
  ) {
    this.key = `${service.host}|${port.number}|${subset ?? ""}`;
    this.name = `outbound|${port.number}|${subset ?? ""}|${service.host}`;
    this.balancer = makeBalancer(policy.loadBalancer);
  }

  get host(): string {
    return this.service.host;
  }

  anyAvailable(avail: Availability): boolean {
    for (const ep of this.endpoints) if (avail.isAvailable(ep)) return true;
    return false;
  }

  /** One available endpoint, or undefined when none is. */
  pick(avail: Availability, hashKey?: string, rand: () => number = Math.random): Endpoint | undefined {
    if (this.endpoints.length === 0) return undefined;
    return this.balancer.pick(this.endpoints, avail, hashKey, rand);
  }
}

/** Merges a subset's traffic policy over its DestinationRule's (field by field, as Istio). */
export function mergePolicy(base: TrafficPolicy | undefined, over: TrafficPolicy | undefined): TrafficPolicy {
  return {
    ...(base ?? {}),
    ...(over?.loadBalancer ? { loadBalancer: over.loadBalancer } : {}),
    ...(over?.connectionPool ? { connectionPool: over.connectionPool } : {}),
    ...(over?.outlierDetection ? { outlierDetection: over.outlierDetection } : {}),
    ...(over?.tls ? { tls: over.tls } : {}),
  };
}
