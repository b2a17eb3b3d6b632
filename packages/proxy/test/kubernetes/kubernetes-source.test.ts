/**
 * The Kubernetes source against the API fake (real HTTP, the official client's informers):
 * services and lanes from Services / EndpointSlices / Pods, config from the CRDs, endpoint-only
 * swaps that keep the compiled route tables, invalid objects left out, and the informer's
 * protocol duties — paging, bookmarks, server timeouts, cut watches, 410 Gone — with nothing lost.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigSnapshot } from "@lanecar/core";
import { afterEach, describe, expect, it } from "vitest";
import { BUILTIN_TYPES, crdTypes, KubeApiFake } from "../../../../test/support/kube-api-fake.js";
import {
  destinationRule,
  LANES_TRAFFIC_LABEL,
  laneVirtualService,
  pod,
  service,
  slice,
} from "../../../../test/support/kube-objects.js";
import { KubernetesSource, type KubernetesSourceOptions } from "../../src/kubernetes/kubernetes-source.js";

const REVIEWS = "reviews.default.svc.cluster.local";
let api: KubeApiFake | undefined;
let source: KubernetesSource | undefined;

afterEach(async () => {
  source?.stop();
  source = undefined;
  await api?.close();
  api = undefined;
});

/** One kubeconfig file with a context per fake. */
function twoContexts(east: KubeApiFake, west: KubeApiFake): string {
  const [e, w] = [east.kubeconfig("east"), west.kubeconfig("west")];
  const part = (y: string, key: string) => y.split(`${key}:\n`)[1]!.split(/\n(?=[a-z-]+:)/)[0]!;
  return `apiVersion: v1
kind: Config
clusters:
${part(e, "clusters")}
${part(w, "clusters")}
users:
${part(e, "users")}
${part(w, "users")}
contexts:
${part(e, "contexts")}
${part(w, "contexts")}
current-context: east
`;
}

function kubeconfig(fake: KubeApiFake): string {
  const f = join(mkdtempSync(join(tmpdir(), "lanecar-kc-")), "kubeconfig");
  writeFileSync(f, fake.kubeconfig());
  return f;
}

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Bookinfo's reviews: v1 (prod) always, v2 (gray) when `gray` is set. */
function seed(fake: KubeApiFake, opts: { istioVersion?: string } = {}): void {
  fake.apply(service("reviews"));
  fake.apply(pod("reviews-v1-0", "default", { app: "reviews", version: "v1", ASM_TRAFFIC_TAG: "prod" }));
  fake.apply(slice("reviews", "reviews-v1", 9081, [{ ip: "127.0.0.1", pod: "reviews-v1-0" }]));
  fake.apply(LANES_TRAFFIC_LABEL());
  fake.apply(destinationRule("reviews", "default", opts.istioVersion));
  fake.apply(laneVirtualService("reviews", "default", opts.istioVersion));
}

async function startSource(
  fake: KubeApiFake,
  extra: Partial<KubernetesSourceOptions> = {},
): Promise<KubernetesSource> {
  source = await KubernetesSource.start({
    clusters: [{ kubeconfig: kubeconfig(fake) }],
    paths: [],
    namespace: "default",
    batchMs: 5,
    informer: { pageSize: 2, backoffMs: 20, ...extra.informer },
    ...extra,
  });
  source.start();
  return source;
}

function route(snap: ConfigSnapshot, lane: string | undefined) {
  const labels: Record<string, string> = lane ? { "x-asm-prefer-tag": lane } : {};
  const d = snap.router("mesh").route(
    {
      method: "GET",
      authority: "reviews:9080",
      path: "/",
      scheme: "http",
      port: 9080,
      header: () => undefined,
    },
    { gateway: "mesh", namespace: "default", podLabels: {} },
    labels,
    { isAvailable: (ep) => ep.ready !== false, activeRequests: () => 0 },
  );
  return {
    ports: d.cluster?.endpoints.map((e) => e.port) ?? [],
    fallback: d.fallback?.reason ?? null,
    flag: d.flag,
  };
}

function informerDump(s: KubernetesSource, path: string) {
  const d = s.dump() as { clusters: { informers: { path: string; lists: number; restarts: number }[] }[] };
  return d.clusters[0]!.informers.find((i) => i.path === path)!;
}

describe("KubernetesSource", () => {
  it("discovers services, pod-labelled lanes and the CRD config in pages; a pod scaled up moves the gray lane to it", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    const s = await startSource(api);
    expect(s.current.registry.hasService(REVIEWS)).toBe(true);
    expect(route(s.current, "gray")).toEqual({ ports: [9081], fallback: "noinstances", flag: "" });
    // Lists were paged (2 per page) and watches asked for bookmarks and a server timeout.
    expect(api.requests.some((r) => r.startsWith("GET /api/v1/pods?limit=2"))).toBe(true);
    await until(() => api!.openWatches >= 10, "every watch");
    const podWatch = api.requests.find((r) => r.startsWith("GET /api/v1/pods?watch=true"));
    expect(podWatch).toMatch(/resourceVersion=\d+/);
    expect(podWatch).toContain("allowWatchBookmarks=true");
    expect(podWatch).toMatch(/timeoutSeconds=\d+/);

    const config = s.current;
    const tables = config.routeTables("mesh");
    api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" }));
    api.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
    await until(() => route(s.current, "gray").ports[0] === 9082, "gray to reach v2");
    expect(route(s.current, "gray")).toEqual({ ports: [9082], fallback: null, flag: "" });
    // Endpoint-only: same validated resources, the same compiled route tables.
    expect(s.current.resources).toBe(config.resources);
    expect(s.current.routeTables("mesh")).toBe(tables);
    expect(s.endpointCounts.swaps).toBeGreaterThan(0);
  });

  it("a pod deleted and recreated under the same name (a StatefulSet) with other labels moves lanes", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    api.apply(pod("reviews-1", "default", { app: "reviews", ASM_TRAFFIC_TAG: "prod" }));
    api.apply(slice("reviews", "reviews-sts", 9083, [{ ip: "127.0.0.1", pod: "reviews-1" }]));
    const s = await startSource(api);
    expect(route(s.current, "prod").ports.sort()).toEqual([9081, 9083]);
    expect(route(s.current, "gray").fallback).toBe("noinstances");
    // Deleted: the endpoint (still in the slice) has no pod, hence no labels, hence no lane.
    api.delete("v1", "Pod", "default", "reviews-1");
    await until(() => route(s.current, "prod").ports.length === 1, "the swap after the delete");
    api.apply(pod("reviews-1", "default", { app: "reviews", ASM_TRAFFIC_TAG: "gray" }));
    await until(() => route(s.current, "gray").fallback === null, "the recreated pod's lane");
    expect(route(s.current, "gray").ports).toEqual([9083]);
    expect(route(s.current, "prod").ports).toEqual([9081]);
  });

  it("a not-ready endpoint is an instance that is unavailable: noavailabled fallback", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" }));
    api.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
    const s = await startSource(api);
    expect(route(s.current, "gray").ports).toEqual([9082]);
    api.apply(
      slice("reviews", "reviews-v2", 9082, [
        { ip: "127.0.0.1", pod: "reviews-v2-0", ready: false, terminating: true },
      ]),
    );
    await until(() => route(s.current, "gray").fallback === "noavailabled", "the fallback");
    expect(route(s.current, "gray")).toEqual({ ports: [9081], fallback: "noavailabled", flag: "" });
  });

  it("an invalid API object is left out with its error; the rest applies; deleting a VirtualService restores the default route", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    const lines: string[] = [];
    const s = await startSource(api, { log: { info: (m) => lines.push(m), error: (m) => lines.push(m) } });
    const bad = laneVirtualService("ratings");
    (bad.spec as { http: { route: { weight?: number }[] }[] }).http[0]!.route[0]!.weight = -1;
    api.apply(bad);
    api.apply(service("ratings"));
    type Dump = { rejected: { resource: string; errors: string[] }[] };
    // Each kind has its own watch: the Service's event may be applied before the VirtualService's.
    await until(
      () =>
        s.current.registry.hasService("ratings.default.svc.cluster.local") &&
        (s.dump() as Dump).rejected.length > 0,
      "ratings and the rejected VirtualService",
    );
    const dump = s.dump() as Dump;
    expect(dump.rejected).toEqual([
      {
        resource: "VirtualService/default/ratings",
        cluster: "fake",
        errors: [expect.stringContaining("spec.http[0].route[0].weight")],
      },
    ]);
    expect(lines.some((l) => l.includes("VirtualService/default/ratings left out"))).toBe(true);
    expect(s.current.resources.map((r) => r.id)).toContain("VirtualService/default/reviews");
    expect(s.lastError).toBeUndefined();

    expect(route(s.current, "gray").fallback).toBe("noinstances");
    api.delete("networking.istio.io/v1", "VirtualService", "default", "reviews");
    await until(
      () => !s.current.resources.some((r) => r.id === "VirtualService/default/reviews"),
      "the delete",
    );
    // No VirtualService: the default route to every endpoint, no lane, no fallback.
    expect(route(s.current, "gray")).toEqual({ ports: [9081], fallback: null, flag: "" });
  });

  it("config files are read with the API objects; an invalid file change is rejected whole while endpoints still follow", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    // The TrafficLabel lives in a file here, not in the API.
    api.delete("istio.alibabacloud.com/v1beta1", "TrafficLabel", "default", "lanes");
    const dir = mkdtempSync(join(tmpdir(), "lanecar-files-"));
    const file = join(dir, "labels.yaml");
    const tl = `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules:
  - labels:
    - name: x-asm-prefer-tag
      valueFrom: [$getInboundRequestHeader(x-asm-prefer-tag)]
`;
    writeFileSync(file, tl);
    const s = await startSource(api, { paths: [dir], pollMs: 20 });
    const rejected: string[] = [];
    s.on("error", (e) => rejected.push(...e.errors));
    expect(s.current.resources.map((r) => r.id)).toContain("TrafficLabel/default/lanes");
    expect(s.current.resources.find((r) => r.kind === "TrafficLabel")?.source.file).toBe(file);
    // A bad file and a new endpoint at once: the file is rejected, the endpoint still applies.
    writeFileSync(file, tl.replace("valueFrom: [", "valueFrom: [$nope(), "));
    api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" }));
    api.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
    await until(() => rejected.length > 0, "the rejection");
    expect(rejected[0]).toContain("labels.yaml");
    expect(s.current.resources.map((r) => r.id)).toContain("TrafficLabel/default/lanes");
    await until(() => route(s.current, "gray").ports[0] === 9082, "the endpoints despite the bad file");
  });

  it("reads the Istio kinds in the version the server serves (v1alpha3 only here)", async () => {
    api = await new KubeApiFake([...BUILTIN_TYPES, ...crdTypes(["v1alpha3"])]).start();
    seed(api, { istioVersion: "v1alpha3" });
    const s = await startSource(api);
    expect(s.current.resources.find((r) => r.kind === "VirtualService")?.apiVersion).toBe(
      "networking.istio.io/v1alpha3",
    );
    expect(route(s.current, "prod").ports).toEqual([9081]);
  });

  it("a cluster without the Istio / ASM CRDs: services are discovered, the missing kinds are named, default routes apply", async () => {
    api = await new KubeApiFake(BUILTIN_TYPES).start();
    api.apply(service("reviews"));
    api.apply(pod("reviews-v1-0", "default", { app: "reviews", ASM_TRAFFIC_TAG: "prod" }));
    api.apply(slice("reviews", "reviews-v1", 9081, [{ ip: "127.0.0.1", pod: "reviews-v1-0" }]));
    const lines: string[] = [];
    const s = await startSource(api, { log: { info: (m) => lines.push(m), error: (m) => lines.push(m) } });
    const d = s.dump() as { clusters: { missingKinds: string[] }[] };
    expect(d.clusters[0]!.missingKinds).toEqual([
      "VirtualService",
      "DestinationRule",
      "Gateway",
      "ServiceEntry",
      "WorkloadEntry",
      "WorkloadGroup",
      "TrafficLabel",
      "PeerAuthentication",
      "AuthorizationPolicy",
    ]);
    expect(lines).toContain(
      "kubernetes:fake serves no virtualservices.networking.istio.io (v1, v1beta1, v1alpha3); no VirtualService is read",
    );
    expect(route(s.current, "gray")).toEqual({ ports: [9081], fallback: null, flag: "" });
  });

  it("a cut watch resumes from its resourceVersion (no re-list) and loses nothing", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    const s = await startSource(api);
    const slices = "/apis/discovery.k8s.io/v1/endpointslices";
    await until(() => api!.openWatches >= 10, "every watch");
    const lists = informerDump(s, slices).lists;
    expect(api.cutWatches()).toBeGreaterThanOrEqual(10);
    // Changes while no watch is open: the resumed watch must replay them.
    api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" }));
    api.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
    await until(() => route(s.current, "gray").ports[0] === 9082, "convergence after the cut");
    const after = informerDump(s, slices);
    expect(after.restarts).toBeGreaterThan(0);
    expect(after.lists).toBe(lists);
  });

  it("an API server outage keeps the last snapshot serving; watches come back with backoff and catch up", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    const s = await startSource(api);
    await until(() => api!.openWatches >= 10, "every watch");
    api.down = true;
    api.cutWatches();
    const refused = () => api!.requests.filter((r) => r.includes("watch=true")).length;
    const before = refused();
    await until(() => refused() >= before + 20, "retries while down");
    expect(route(s.current, "prod").ports).toEqual([9081]);
    const errors = (s.dump() as { clusters: { informers: { lastError: string | null }[] }[] }).clusters[0]!
      .informers[0]!.lastError;
    expect(errors).toMatch(/Service Unavailable|503/);
    api.down = false;
    api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" }));
    api.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
    await until(() => route(s.current, "gray").ports[0] === 9082, "catching up after the outage");
  });

  it("410 Gone re-lists: deletions made while the watch was expired are seen", async () => {
    api = await new KubeApiFake().start();
    seed(api);
    api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" }));
    api.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
    const s = await startSource(api);
    const slices = "/apis/discovery.k8s.io/v1/endpointslices";
    expect(route(s.current, "gray").ports).toEqual([9082]);
    await until(() => api!.openWatches >= 10, "every watch");
    const lists = informerDump(s, slices).lists;
    api.cutWatches();
    // While cut, the slice goes away and history is compacted: resuming gets 410, then a re-list.
    api.delete("discovery.k8s.io/v1", "EndpointSlice", "default", "reviews-v2");
    api.compact();
    await until(() => route(s.current, "gray").fallback === "noinstances", "the deletion");
    expect(informerDump(s, slices).lists).toBeGreaterThan(lists);
    // And an ERROR 410 event on an open watch does the same.
    await until(() => api!.openWatches >= 10, "watches again");
    api.expireWatches();
    api.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
    await until(() => route(s.current, "gray").ports[0] === 9082, "the slice back");
  });

  it("bookmarks move the resume point; a server-side timeout re-watches without a re-list", async () => {
    api = await new KubeApiFake().start();
    api.bookmarkMs = 100;
    seed(api);
    const s = await startSource(api, { informer: { timeoutSeconds: 1 } });
    const pods = "/api/v1/pods";
    const rv0 = informerDump(s, pods);
    // Other kinds change: only a bookmark can tell the pods informer the newer resourceVersion.
    for (let i = 0; i < 3; i++) api.apply(service(`other-${i}`));
    await until(() => {
      const d = s.dump() as { clusters: { informers: { path: string; resourceVersion: string }[] }[] };
      return d.clusters[0]!.informers.find((i) => i.path === pods)!.resourceVersion === api!.resourceVersion;
    }, "a bookmark");
    const watches = () =>
      api!.requests.filter((r) => r.startsWith("GET /api/v1/pods?") && r.includes("watch=true")).length;
    const before = watches();
    await until(() => watches() > before, "a re-watch after timeoutSeconds", 8000);
    expect(informerDump(s, pods).lists).toBe(rv0.lists);
  });

  it("several clusters merge: a service's instances add up, config is read once (seed 000's multi-cluster gray)", async () => {
    api = await new KubeApiFake().start();
    const east = api;
    const west = await new KubeApiFake().start();
    try {
      seed(east);
      // The gray version runs only in the second cluster, which replicates the same config.
      west.apply(service("reviews"));
      west.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" }));
      west.apply(slice("reviews", "reviews-v2", 9082, [{ ip: "127.0.0.1", pod: "reviews-v2-0" }]));
      west.apply(LANES_TRAFFIC_LABEL());
      west.apply(destinationRule("reviews"));
      west.apply(laneVirtualService("reviews"));
      const kc = join(mkdtempSync(join(tmpdir(), "lanecar-kc-")), "kubeconfig");
      writeFileSync(kc, twoContexts(east, west));
      source = await KubernetesSource.start({
        clusters: [
          { kubeconfig: kc, context: "east" },
          { kubeconfig: kc, context: "west" },
        ],
        paths: [],
        namespace: "default",
        batchMs: 5,
      });
      source.start();
      expect(route(source.current, "gray")).toEqual({ ports: [9082], fallback: null, flag: "" });
      expect(route(source.current, "prod")).toEqual({ ports: [9081], fallback: null, flag: "" });
      expect(source.current.resources.filter((r) => r.kind === "VirtualService")).toHaveLength(1);
      expect((source.dump() as { rejected: unknown[] }).rejected).toEqual([]);
      // Scaling the west gray pod to 0 falls back to the east prod one.
      west.delete("discovery.k8s.io/v1", "EndpointSlice", "default", "reviews-v2");
      await until(() => route(source!.current, "gray").fallback === "noinstances", "the west scale-down");
    } finally {
      source?.stop();
      await west.close();
    }
  });

  it("an API server that cannot be reached fails start-up with one line naming the cluster", async () => {
    api = await new KubeApiFake().start();
    api.down = true;
    await expect(
      KubernetesSource.start({
        clusters: [{ kubeconfig: kubeconfig(api) }],
        paths: [],
        namespace: "default",
        syncTimeoutMs: 600,
      }),
    ).rejects.toThrow(/^kubernetes:fake \(http:\/\/127\.0\.0\.1:\d+\): cannot .*503/);
  });
});
