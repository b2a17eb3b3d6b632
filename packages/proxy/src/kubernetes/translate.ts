/**
 * Kubernetes objects → Lanecar's model. A Service and its EndpointSlices become one discovered
 * service (`<name>.<ns>.svc.cluster.local`): each endpoint is an instance with its first address,
 * the slice's ports by name, the labels of its `targetRef` pod (so DestinationRule subsets and
 * `ASM_TRAFFIC_TAG` lanes select it, and auto mTLS reads `security.istio.io/tlsMode`), that pod's
 * `spec.serviceAccountName` (the SPIFFE identity a mutual-TLS peer there must present), and its
 * readiness (`conditions.ready: false`, which terminating endpoints also have, makes it
 * unavailable: `noavailabled`). The Istio / ASM CRD objects (networking, security, TrafficLabel)
 * become raw resources for the same validation as files.
 */
import {
  CLUSTER_DOMAIN,
  type DiscoveredInstance,
  type DiscoveredService,
  type RawResource,
  type ServicePort,
} from "@lanecar/core";

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  [k: string]: unknown;
}

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [k: string]: unknown;
}

export interface ServiceObject extends KObject {
  spec?: {
    type?: string;
    ports?: {
      name?: string;
      port: number;
      targetPort?: number | string;
      protocol?: string;
      appProtocol?: string;
    }[];
  };
}

export interface EndpointSliceObject extends KObject {
  addressType?: string;
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }[];
}

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export function keyOf(o: KObject): string {
  return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
}

/** Only what discovery reads is kept in the informers' caches (10,000 pods stay small). */
export function slimMeta(m: ObjectMeta | undefined): ObjectMeta {
  const out: ObjectMeta = { name: m?.name, namespace: m?.namespace, resourceVersion: m?.resourceVersion };
  if (m?.labels) out.labels = m.labels;
  return out;
}

export interface PodObject extends KObject {
  spec?: { serviceAccountName?: string; [k: string]: unknown };
}

/** What discovery keeps of a pod: its labels and its service account. */
export interface PodInfo {
  labels: Record<string, string>;
  serviceAccount: string | undefined;
}

export function slimPod(o: PodObject): PodObject {
  const out: PodObject = { apiVersion: o.apiVersion, kind: o.kind, metadata: slimMeta(o.metadata) };
  const sa = o.spec?.serviceAccountName;
  if (typeof sa === "string" && sa) out.spec = { serviceAccountName: sa };
  return out;
}

export function podInfo(o: PodObject): PodInfo {
  return { labels: o.metadata?.labels ?? {}, serviceAccount: o.spec?.serviceAccountName || undefined };
}

export function slimService(o: ServiceObject): ServiceObject {
  return { metadata: slimMeta(o.metadata), spec: { type: o.spec?.type, ports: o.spec?.ports } };
}

export function slimSlice(o: EndpointSliceObject): EndpointSliceObject {
  return {
    metadata: slimMeta(o.metadata),
    addressType: o.addressType,
    ports: o.ports,
    endpoints: o.endpoints,
  };
}

/** CRD objects lose `managedFields` and annotations (last-applied-configuration can be large). */
export function slimConfig(o: KObject): KObject {
  return { ...o, metadata: slimMeta(o.metadata) };
}

export function serviceHost(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

function servicePorts(svc: ServiceObject): ServicePort[] {
  return (svc.spec?.ports ?? []).map((p) => {
    const sp: ServicePort = { number: p.port, name: p.name ?? "", protocol: "HTTP" };
    if (typeof p.targetPort === "number") sp.targetPort = p.targetPort;
    return sp;
  });
}

/**
 * One Service with its slices. `podOf` finds a `targetRef` pod (`ns/name`); an endpoint whose
 * pod is not known yet has no labels and no service account until it is.
 */
export function discoveredService(
  svc: ServiceObject,
  slices: readonly EndpointSliceObject[],
  podOf: (key: string) => PodInfo | undefined,
): DiscoveredService {
  const ns = svc.metadata?.namespace ?? "default";
  const name = svc.metadata?.name ?? "";
  const byKey = new Map<string, DiscoveredInstance>();
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue;
    const ports: Record<string, number> = {};
    for (const p of slice.ports ?? []) if (p.port) ports[p.name ?? ""] = p.port;
    for (const ep of slice.endpoints ?? []) {
      const address = ep.addresses?.[0];
      if (!address) continue;
      const ref = ep.targetRef;
      const pod = ref?.kind === "Pod" && ref.name ? `${ref.namespace ?? ns}/${ref.name}` : undefined;
      const info = pod ? podOf(pod) : undefined;
      const inst: DiscoveredInstance = {
        address,
        ports,
        labels: info?.labels ?? {},
        weight: 1,
        // The API says a nil `ready` means ready; terminating endpoints are reported not ready.
        ready: ep.conditions?.ready !== false,
        origin: pod ? `Pod/${pod}` : `EndpointSlice/${ns}/${slice.metadata?.name ?? ""}`,
      };
      if (info?.serviceAccount) inst.serviceAccount = info.serviceAccount;
      // An endpoint may sit in two slices while they are rebalanced: keep one, ready if either is.
      const k = `${address}|${Object.entries(ports).join(",")}`;
      const prior = byKey.get(k);
      if (!prior || (!prior.ready && inst.ready)) byKey.set(k, inst);
    }
  }
  return {
    host: serviceHost(name, ns),
    namespace: ns,
    ports: servicePorts(svc),
    instances: [...byKey.values()],
    origin: `Service/${ns}/${name}`,
  };
}

/** A CRD object as a raw resource; diagnostics name it `kubernetes:<cluster> Kind/ns/name`. */
export function rawResource(o: KObject, cluster: string): RawResource {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) labels[k] = String(v);
  return {
    apiVersion: o.apiVersion ?? "",
    kind: o.kind ?? "",
    name: o.metadata?.name ?? "",
    namespace: o.metadata?.namespace ?? "default",
    labels,
    spec: o.spec,
    source: { file: `kubernetes:${cluster}`, index: 0, start: { line: 1, col: 1 }, positions: new Map() },
  };
}
