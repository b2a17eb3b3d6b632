/**
 * Discovery of the security side of the mesh (issue 15 on Kubernetes) against the API fake:
 * PeerAuthentication and AuthorizationPolicy objects (security.istio.io v1, or v1beta1 on older
 * Istio) created, changed and deleted through the API land in the snapshot exactly as the same
 * YAML from a file would; invalid ones are left out; and endpoints carry their pod's service
 * account and `security.istio.io/tlsMode` label (what peer verification and auto mTLS read).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authorizer, buildSnapshot, type ConfigSnapshot, mtlsModeFor } from "@lanecar/core";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import {
  BUILTIN_TYPES,
  crdTypes,
  KubeApiFake,
  type KubeObject,
} from "../../../../test/support/kube-api-fake.js";
import { pod, service, slice } from "../../../../test/support/kube-objects.js";
import { KubernetesSource } from "../../src/kubernetes/kubernetes-source.js";

const REVIEWS = "reviews.default.svc.cluster.local";
const REVIEWS_WORKLOAD = { namespace: "default", labels: { app: "reviews", version: "v1" } };
let api: KubeApiFake | undefined;
let source: KubernetesSource | undefined;

afterEach(async () => {
  source?.stop();
  source = undefined;
  await api?.close();
  api = undefined;
});

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function startSource(fake: KubeApiFake): Promise<KubernetesSource> {
  const kubeconfig = join(mkdtempSync(join(tmpdir(), "lanecar-kc-")), "kubeconfig");
  writeFileSync(kubeconfig, fake.kubeconfig());
  source = await KubernetesSource.start({
    clusters: [{ kubeconfig }],
    paths: [],
    namespace: "default",
    batchMs: 5,
    informer: { backoffMs: 20 },
  });
  source.start();
  return source;
}

function peerAuthentication(name: string, ns: string, spec: object, version = "v1"): KubeObject {
  return {
    apiVersion: `security.istio.io/${version}`,
    kind: "PeerAuthentication",
    metadata: { name, namespace: ns },
    spec,
  };
}

function authorizationPolicy(name: string, ns: string, spec: object, version = "v1"): KubeObject {
  return {
    apiVersion: `security.istio.io/${version}`,
    kind: "AuthorizationPolicy",
    metadata: { name, namespace: ns },
    spec,
  };
}

/** The snapshot the file loader builds from the same objects written as YAML. */
function fromFile(objects: KubeObject[]): ConfigSnapshot {
  const text = objects
    .map((o) =>
      stringify({
        apiVersion: o.apiVersion,
        kind: o.kind,
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace },
        spec: o.spec,
      }),
    )
    .join("---\n");
  const built = buildSnapshot([{ file: "security.yaml", text }], { namespace: "default" });
  if (!built.snapshot) throw new Error(built.diagnostics.map((d) => d.message).join("; "));
  return built.snapshot;
}

const mode = (s: ConfigSnapshot, port = 9080) => mtlsModeFor(s.peerAuthentications, REVIEWS_WORKLOAD, port);

function request(principal: string | undefined) {
  return {
    principal,
    sourceIp: "10.0.0.9",
    host: "reviews:9080",
    method: "GET",
    path: "/reviews/0",
    port: 9080,
    header: () => undefined,
  };
}

describe("security.istio.io kinds from Kubernetes", () => {
  it("a PeerAuthentication created, changed and deleted through the API is in the snapshot as from a file", async () => {
    api = await new KubeApiFake().start();
    api.apply(service("reviews"));
    const s = await startSource(api);
    expect(mode(s.current)).toEqual({ mode: "PERMISSIVE", policy: null });

    const strict = peerAuthentication("default", "default", { mtls: { mode: "STRICT" } });
    api.apply(strict);
    await until(() => s.current.peerAuthentications.length === 1, "the created PeerAuthentication");
    expect(mode(s.current)).toEqual({ mode: "STRICT", policy: "default/default" });
    expect(s.current.peerAuthentications).toEqual(fromFile([strict]).peerAuthentications);
    expect(s.current.resources.find((r) => r.kind === "PeerAuthentication")?.source.file).toBe(
      "kubernetes:fake",
    );

    // Changed: a workload-level policy opens port 9080 of reviews only (Istio's precedence).
    const portLevel = peerAuthentication("reviews", "default", {
      selector: { matchLabels: { app: "reviews" } },
      mtls: { mode: "STRICT" },
      portLevelMtls: { "9080": { mode: "PERMISSIVE" } },
    });
    api.apply(portLevel);
    await until(() => mode(s.current).policy === "default/reviews", "the workload-level policy");
    expect(mode(s.current)).toEqual({ mode: "PERMISSIVE", policy: "default/reviews" });
    expect(mode(s.current, 9081)).toEqual({ mode: "STRICT", policy: "default/reviews" });
    api.apply(peerAuthentication("default", "default", { mtls: { mode: "DISABLE" } }));
    await until(
      () =>
        s.current.peerAuthentications.some((p) => p.name === "default" && p.spec.mtls?.mode === "DISABLE"),
      "the changed namespace policy",
    );
    expect(s.current.peerAuthentications).toEqual(
      fromFile([peerAuthentication("default", "default", { mtls: { mode: "DISABLE" } }), portLevel])
        .peerAuthentications,
    );

    // Deleted: back to the mesh default.
    api.delete("security.istio.io/v1", "PeerAuthentication", "default", "reviews");
    api.delete("security.istio.io/v1", "PeerAuthentication", "default", "default");
    await until(() => s.current.peerAuthentications.length === 0, "the deletions");
    expect(mode(s.current)).toEqual({ mode: "PERMISSIVE", policy: null });
  });

  it("an AuthorizationPolicy from the API decides as from a file; an invalid one is left out with its error", async () => {
    api = await new KubeApiFake().start();
    api.apply(service("reviews"));
    const s = await startSource(api);
    const allow = authorizationPolicy("reviews-viewer", "default", {
      selector: { matchLabels: { app: "reviews" } },
      action: "ALLOW",
      rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/bookinfo-productpage"] } }] }],
    });
    api.apply(allow);
    api.apply(authorizationPolicy("broken", "default", { action: "PERMIT" }));
    await until(() => s.current.authorizationPolicies.length === 1, "the AuthorizationPolicy");
    expect(s.current.authorizationPolicies).toEqual(fromFile([allow]).authorizationPolicies);
    const authz = new Authorizer(s.current.authorizationPolicies, REVIEWS_WORKLOAD);
    expect(authz.decide(request("cluster.local/ns/default/sa/bookinfo-productpage"))).toMatchObject({
      allowed: true,
      policy: "default/reviews-viewer",
    });
    expect(authz.decide(request(undefined))).toMatchObject({ allowed: false, reason: "no-allow-match" });
    const dump = s.dump() as { rejected: { resource: string; errors: string[] }[] };
    expect(dump.rejected).toEqual([
      {
        resource: "AuthorizationPolicy/default/broken",
        cluster: "fake",
        errors: [expect.stringContaining("spec.action")],
      },
    ]);
  });

  it("reads security.istio.io v1beta1 where the server has no v1 (Istio before 1.22)", async () => {
    api = await new KubeApiFake([...BUILTIN_TYPES, ...crdTypes(undefined, ["v1beta1"])]).start();
    api.apply(peerAuthentication("default", "default", { mtls: { mode: "STRICT" } }, "v1beta1"));
    const s = await startSource(api);
    expect(s.current.resources.find((r) => r.kind === "PeerAuthentication")?.apiVersion).toBe(
      "security.istio.io/v1beta1",
    );
    expect(mode(s.current).mode).toBe("STRICT");
    expect(
      api.requests.some((r) => r.startsWith("GET /apis/security.istio.io/v1beta1/peerauthentications?")),
    ).toBe(true);
  });

  it("a cluster without the security CRDs says so once and reads the rest", async () => {
    api = await new KubeApiFake([...BUILTIN_TYPES, ...crdTypes(undefined, [])]).start();
    const lines: string[] = [];
    source = await KubernetesSource.start({
      clusters: [{ kubeconfig: join(mkdtempSync(join(tmpdir(), "lanecar-kc-")), "kc") }].map((c) => {
        writeFileSync(c.kubeconfig, api!.kubeconfig());
        return c;
      }),
      paths: [],
      namespace: "default",
      log: { info: (m) => lines.push(m), error: (m) => lines.push(m) },
    });
    const d = source.dump() as { clusters: { missingKinds: string[] }[] };
    expect(d.clusters[0]!.missingKinds).toEqual(["PeerAuthentication", "AuthorizationPolicy"]);
    expect(lines).toContain(
      "kubernetes:fake serves no peerauthentications.security.istio.io (v1, v1beta1); no PeerAuthentication is read",
    );
  });

  it("endpoints carry their pod's service account and tlsMode label; a pod's change reaches them", async () => {
    api = await new KubeApiFake().start();
    api.apply(service("reviews"));
    api.apply(
      pod(
        "reviews-v1-0",
        "default",
        { app: "reviews", version: "v1", "security.istio.io/tlsMode": "istio" },
        "127.0.0.1",
        "bookinfo-reviews",
      ),
    );
    // A pod outside the mesh (no sidecar, no tlsMode label) behind the same service.
    api.apply(pod("reviews-legacy-0", "default", { app: "reviews", version: "legacy" }, "127.0.0.2"));
    api.apply(
      slice("reviews", "reviews-a", 9081, [
        { ip: "127.0.0.1", pod: "reviews-v1-0" },
        { ip: "127.0.0.2", pod: "reviews-legacy-0" },
      ]),
    );
    const s = await startSource(api);
    const endpoints = () => {
      const c = s.current.registry.cluster(REVIEWS, 9080, undefined);
      return (c?.endpoints ?? []).map((e) => ({
        address: e.address,
        serviceAccount: e.serviceAccount,
        tlsMode: e.labels["security.istio.io/tlsMode"],
      }));
    };
    expect(endpoints()).toEqual([
      { address: "127.0.0.1", serviceAccount: "bookinfo-reviews", tlsMode: "istio" },
      { address: "127.0.0.2", serviceAccount: "default", tlsMode: undefined },
    ]);
    // The legacy pod is replaced by an injected one under the same name (a StatefulSet).
    api.delete("v1", "Pod", "default", "reviews-legacy-0");
    api.apply(
      pod(
        "reviews-legacy-0",
        "default",
        { app: "reviews", version: "legacy", "security.istio.io/tlsMode": "istio" },
        "127.0.0.2",
        "bookinfo-legacy",
      ),
    );
    await until(() => endpoints()[1]?.serviceAccount === "bookinfo-legacy", "the recreated pod's account");
    expect(endpoints()[1]).toEqual({
      address: "127.0.0.2",
      serviceAccount: "bookinfo-legacy",
      tlsMode: "istio",
    });
  });
});
