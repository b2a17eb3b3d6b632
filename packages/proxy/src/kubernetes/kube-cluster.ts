/**
 * One cluster's informers and the indexes discovery keeps over them: Services, EndpointSlices by
 * service, pod labels and service accounts, which services each pod backs (so a pod relabel
 * rebuilds only those), the discovered service of each Service (rebuilt only when marked dirty),
 * and the CRD objects (networking, security and ASM kinds).
 */
import type { DiscoveredService, RawResource } from "@lanecar/core";
import type { ClusterClient } from "./cluster-client.js";
import { type InformerOptions, ResilientInformer } from "./informer.js";
import {
  discoveredService,
  type EndpointSliceObject,
  type KObject,
  keyOf,
  type PodInfo,
  type PodObject,
  podInfo,
  rawResource,
  SERVICE_NAME_LABEL,
  type ServiceObject,
  slimConfig,
  slimPod,
  slimService,
  slimSlice,
} from "./translate.js";

/** The config kinds read as CRDs, with the versions tried (first served wins). */
export const CONFIG_KINDS: readonly { kind: string; group: string; plural: string; versions: string[] }[] = [
  ...(
    [
      ["VirtualService", "virtualservices"],
      ["DestinationRule", "destinationrules"],
      ["Gateway", "gateways"],
      ["ServiceEntry", "serviceentries"],
      ["WorkloadEntry", "workloadentries"],
      ["WorkloadGroup", "workloadgroups"],
    ] as const
  ).map(([kind, plural]) => ({
    kind,
    group: "networking.istio.io",
    plural,
    versions: ["v1", "v1beta1", "v1alpha3"],
  })),
  {
    kind: "TrafficLabel",
    group: "istio.alibabacloud.com",
    plural: "trafficlabels",
    versions: ["v1", "v1beta1"],
  },
  // Istio serves security.istio.io v1 since 1.22 and v1beta1 before; the spec is the same.
  ...(
    [
      ["PeerAuthentication", "peerauthentications"],
      ["AuthorizationPolicy", "authorizationpolicies"],
    ] as const
  ).map(([kind, plural]) => ({ kind, group: "security.istio.io", plural, versions: ["v1", "v1beta1"] })),
];

type Tuning = Pick<InformerOptions<never>, "pageSize" | "timeoutSeconds" | "backoffMs" | "maxBackoffMs">;

export class KubeCluster {
  private readonly informers: ResilientInformer<KObject>[] = [];
  private readonly services = new Map<string, ServiceObject>();
  private readonly slices = new Map<string, EndpointSliceObject>();
  private readonly slicesOf = new Map<string, Set<string>>();
  private readonly pods = new Map<string, PodInfo>();
  /** pod `ns/name` → service `ns/name` → how many slice endpoints refer to the pod. */
  private readonly servicesOfPod = new Map<string, Map<string, number>>();
  private readonly built = new Map<string, DiscoveredService>();
  private readonly dirty = new Set<string>();
  private readonly config = new Map<string, { raw: RawResource; cluster: string; version: string }>();
  configDirty = true;
  endpointsDirty = true;
  /** Config kinds the cluster does not serve (CRD not installed). */
  readonly missingKinds: string[] = [];

  constructor(
    readonly client: ClusterClient,
    private readonly tuning: Tuning,
    private readonly onChange: () => void,
    private readonly log: { info(m: string): void; error(m: string): void },
  ) {}

  private informer<T extends KObject>(path: string, slim: (o: T) => T, on: (type: string, o: T) => void) {
    const inf = new ResilientInformer<T>(this.client, path, {
      ...this.tuning,
      slim,
      onChange: (type, o) => {
        on(type, o);
        this.onChange();
      },
      onError: (err) => this.log.error(`kubernetes:${this.client.name} ${path}: ${err.message}; retrying`),
    });
    this.informers.push(inf as unknown as ResilientInformer<KObject>);
    return inf;
  }

  /** Starts every informer and resolves when each has listed once; throws past `deadline`. */
  async start(deadline: number): Promise<void> {
    const c = this.client;
    this.informer<ServiceObject>("/api/v1/services", slimService, (t, o) => this.onService(t, o));
    this.informer<EndpointSliceObject>("/apis/discovery.k8s.io/v1/endpointslices", slimSlice, (t, o) =>
      this.onSlice(t, o),
    );
    this.informer<PodObject>("/api/v1/pods", slimPod, (t, o) => this.onPod(t, o));
    for (const k of CONFIG_KINDS) {
      const v = await this.retryUntil(
        deadline,
        () => c.servedVersion(k.group, k.plural, k.versions),
        `discover ${k.group}`,
      );
      if (!v) {
        this.missingKinds.push(k.kind);
        this.log.info(
          `kubernetes:${c.name} serves no ${k.plural}.${k.group} (${k.versions.join(", ")}); no ${k.kind} is read`,
        );
        continue;
      }
      this.informer<KObject>(`/apis/${k.group}/${v}/${k.plural}`, slimConfig, (t, o) => this.onConfig(t, o));
    }
    for (const i of this.informers) i.start();
    const wait = Promise.all(this.informers.map((i) => i.whenSynced()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          const stuck = this.informers.filter((i) => !i.synced);
          reject(
            new Error(
              `kubernetes:${c.name} (${c.server}): cannot list ${stuck.map((i) => i.path).join(", ")}: ${stuck[0]?.lastError ?? "no answer"}`,
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      await Promise.race([wait, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async retryUntil<T>(deadline: number, f: () => Promise<T>, what: string): Promise<T> {
    let delay = 200;
    for (;;) {
      try {
        return await f();
      } catch (err) {
        if (Date.now() + delay > deadline)
          throw new Error(
            `kubernetes:${this.client.name} (${this.client.server}): cannot ${what}: ${(err as Error).message}`,
          );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private markService(key: string): void {
    this.dirty.add(key);
    this.endpointsDirty = true;
  }

  private onService(type: string, o: ServiceObject): void {
    const k = keyOf(o);
    if (type === "delete") this.services.delete(k);
    else this.services.set(k, o);
    this.markService(k);
  }

  /** The service (`ns/name`) a slice belongs to, by its `kubernetes.io/service-name` label. */
  private ownerOf(sl: EndpointSliceObject | undefined): string | undefined {
    const name = sl?.metadata?.labels?.[SERVICE_NAME_LABEL];
    return name ? `${sl?.metadata?.namespace ?? ""}/${name}` : undefined;
  }

  /**
   * Counts, per pod, the slice endpoints of each service that refer to it (+1 / -1 for every
   * endpoint of `sl`), so a pod's label change marks exactly those services, and the index
   * forgets a pod once no slice refers to it (pods churn; the index must not grow with them).
   */
  private indexPods(sl: EndpointSliceObject, svc: string, delta: 1 | -1): void {
    for (const ep of sl.endpoints ?? []) {
      const r = ep.targetRef;
      if (r?.kind !== "Pod" || !r.name) continue;
      const pk = `${r.namespace ?? sl.metadata?.namespace ?? ""}/${r.name}`;
      let refs = this.servicesOfPod.get(pk);
      if (!refs) this.servicesOfPod.set(pk, (refs = new Map()));
      const n = (refs.get(svc) ?? 0) + delta;
      if (n > 0) refs.set(svc, n);
      else refs.delete(svc);
      if (refs.size === 0) this.servicesOfPod.delete(pk);
    }
  }

  private onSlice(type: string, o: EndpointSliceObject): void {
    const k = keyOf(o);
    const prior = this.slices.get(k);
    const priorSvc = this.ownerOf(prior);
    if (prior && priorSvc) {
      this.slicesOf.get(priorSvc)?.delete(k);
      this.indexPods(prior, priorSvc, -1);
      this.markService(priorSvc);
    }
    if (type === "delete") {
      this.slices.delete(k);
      return;
    }
    this.slices.set(k, o);
    const svc = this.ownerOf(o);
    if (!svc) return;
    let set = this.slicesOf.get(svc);
    if (!set) this.slicesOf.set(svc, (set = new Set()));
    set.add(k);
    this.indexPods(o, svc, 1);
    this.markService(svc);
  }

  private onPod(type: string, o: PodObject): void {
    const k = keyOf(o);
    const before = this.pods.get(k);
    if (type === "delete") this.pods.delete(k);
    else {
      const info = podInfo(o);
      if (before && before.serviceAccount === info.serviceAccount && sameLabels(before.labels, info.labels))
        return;
      this.pods.set(k, info);
    }
    // A pod deleted and created again under the same name (StatefulSets) keeps its entry:
    // the slices still refer to it.
    for (const s of this.servicesOfPod.get(k)?.keys() ?? []) this.markService(s);
  }

  private onConfig(type: string, o: KObject): void {
    const id = `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
    if (type === "delete") this.config.delete(id);
    else
      this.config.set(id, {
        raw: rawResource(o, this.client.name),
        cluster: this.client.name,
        version: o.metadata?.resourceVersion ?? "",
      });
    this.configDirty = true;
  }

  /** Appends every discovered service, rebuilding the dirty ones. */
  collectServices(out: DiscoveredService[]): void {
    const podOf = (pod: string) => this.pods.get(pod);
    for (const k of this.dirty) {
      const svc = this.services.get(k);
      if (!svc) {
        this.built.delete(k);
        continue;
      }
      const slices = [...(this.slicesOf.get(k) ?? [])].map((s) => this.slices.get(s)!).filter(Boolean);
      this.built.set(k, discoveredService(svc, slices, podOf));
    }
    this.dirty.clear();
    this.endpointsDirty = false;
    for (const s of this.built.values()) out.push(s);
  }

  configObjects(): { raw: RawResource; cluster: string; version: string }[] {
    this.configDirty = false;
    return [...this.config.values()].sort((a, b) =>
      a.raw.kind + a.raw.namespace + a.raw.name < b.raw.kind + b.raw.namespace + b.raw.name ? -1 : 1,
    );
  }

  dump(): unknown {
    return {
      name: this.client.name,
      server: this.client.server,
      services: this.services.size,
      pods: this.pods.size,
      missingKinds: this.missingKinds,
      informers: this.informers.map((i) => ({
        path: i.path,
        synced: i.synced,
        resourceVersion: i.resourceVersion,
        lists: i.lists,
        restarts: i.restarts,
        lastError: i.lastError ?? null,
      })),
    };
  }

  stop(): void {
    for (const i of this.informers) i.stop();
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}
