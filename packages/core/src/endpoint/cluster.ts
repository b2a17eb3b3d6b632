/**
 * A cluster is (service, port, subset): the endpoints a destination resolves to, the traffic
 * policy that applies to them (DestinationRule merged with the subset's own), and a balancer.
 * Clusters are built once per config snapshot and cached; availability is a separate view.
 */
import type { ServicePort, TrafficPolicy, TrafficPolicyFields } from "../resources/types.js";
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
  /** ServiceEntry `subjectAltNames`: whom an ISTIO_MUTUAL peer without a known service account may be. */
  readonly subjectAltNames?: readonly string[];
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

const FIELDS = ["loadBalancer", "connectionPool", "outlierDetection", "tls"] as const;

/**
 * A policy as it applies to one service port: its `portLevelSettings` entry for the port, when
 * there is one, replaces all four fields (Istio: fields it leaves unset take their defaults, they
 * are not inherited); otherwise the policy's own fields.
 */
function forPort(
  p: TrafficPolicy | undefined,
  port: number | undefined,
): { fields: TrafficPolicyFields; portLevel: boolean } | undefined {
  if (!p) return undefined;
  const pl = port === undefined ? undefined : p.portLevelSettings?.find((s) => s.port === port);
  const src: TrafficPolicyFields = pl ?? p;
  const fields: TrafficPolicyFields = {};
  for (const k of FIELDS) if (src[k] !== undefined) (fields as Record<string, unknown>)[k] = src[k];
  return { fields, portLevel: pl !== undefined };
}

/**
 * The traffic policy of a cluster: the DestinationRule's and its subset's, for service port
 * `port`, with Istio's precedence (MergeSubsetTrafficPolicy): subset's port-level > subset >
 * rule's port-level > rule. A subset field overrides the rule's field by field; a subset's
 * port-level entry overrides all four. The result has no `portLevelSettings`.
 */
export function mergePolicy(
  base: TrafficPolicy | undefined,
  over: TrafficPolicy | undefined,
  port?: number,
): TrafficPolicy {
  const b = forPort(base, port);
  const o = forPort(over, port);
  if (!o) return b?.fields ?? {};
  if (!b) return o.fields;
  const out: TrafficPolicyFields = { ...b.fields };
  for (const k of FIELDS) {
    if (!o.portLevel && o.fields[k] === undefined) continue;
    if (o.fields[k] === undefined) delete out[k];
    else (out as Record<string, unknown>)[k] = o.fields[k];
  }
  return out;
}
