/**
 * Every manifest a user applies (deploy/kubernetes/, examples/bookinfo/kubernetes/) checked the
 * way kube-apiserver would, offline (test/kubernetes/schemas.ts): built-in kinds against the
 * Kubernetes API schema, custom resources against our CRDs' schemas; and the Istio-kind files
 * pass `lanecar validate`. Plus the facts of the shipped configuration that the walkthrough and
 * the threat model rely on (RBAC read-only, failurePolicy Ignore, the namespace selector).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../packages/cli/src/main.js";
import { CONFIG_KINDS } from "../../packages/proxy/src/kubernetes/kube-cluster.js";
import {
  crdValidators,
  docs,
  fileDocs,
  isBuiltIn,
  type Obj,
  REPO,
  validateBuiltIn,
  validateCustom,
  yamlFiles,
} from "./schemas.js";

const DEPLOY = join(REPO, "deploy/kubernetes");
const EXAMPLE = join(REPO, "examples/bookinfo/kubernetes");
const CRD_FILES = yamlFiles(join(DEPLOY, "crds"));
const ASM = join(REPO, "../shared/conformance/istio/asm");
const KUBECTL_MISSING = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).error?.message;
if (KUBECTL_MISSING)
  console.warn(
    `kubectl is not installed (${KUBECTL_MISSING}): the kubectl step of webhook-cert.sh is not checked`,
  );

async function runCli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
  return { code, out, err };
}

describe("Kubernetes manifests", () => {
  const validators = crdValidators(CRD_FILES);

  it("our CRDs serve TrafficLabel, the six Istio networking kinds and the two security kinds in every version", async () => {
    const keys = [...validators.keys()].sort();
    expect(keys).toContain("istio.alibabacloud.com/v1beta1/TrafficLabel");
    expect(keys).toContain("istio.alibabacloud.com/v1/TrafficLabel");
    for (const kind of [
      "VirtualService",
      "DestinationRule",
      "Gateway",
      "ServiceEntry",
      "WorkloadEntry",
      "WorkloadGroup",
    ])
      for (const v of ["v1alpha3", "v1beta1", "v1"])
        expect(keys).toContain(`networking.istio.io/${v}/${kind}`);
    for (const kind of ["PeerAuthentication", "AuthorizationPolicy"])
      for (const v of ["v1beta1", "v1"]) expect(keys).toContain(`security.istio.io/${v}/${kind}`);
    // The CRD objects themselves are valid apiextensions.k8s.io/v1 objects, one storage version each.
    for (const f of CRD_FILES)
      for (const crd of fileDocs(f)) {
        await validateBuiltIn(crd);
        const versions = (crd.spec as { versions: Obj[] }).versions;
        expect(versions.filter((v) => v.storage === true)).toHaveLength(1);
      }
  });

  it("our CRD schemas are structural, as kube-apiserver requires of apiextensions.k8s.io/v1", () => {
    // Every node has a type (or keeps unknown fields), arrays have items, and a node has
    // properties or additionalProperties, never both.
    const problems: string[] = [];
    const walk = (node: Obj, path: string) => {
      if (node.type === undefined && node["x-kubernetes-preserve-unknown-fields"] !== true)
        problems.push(`${path}: no type`);
      if (node.properties && node.additionalProperties)
        problems.push(`${path}: properties and additionalProperties`);
      if (node.type === "array" && !node.items) problems.push(`${path}: array without items`);
      for (const [k, v] of Object.entries((node.properties as Record<string, Obj>) ?? {}))
        walk(v, `${path}.${k}`);
      if (node.items) walk(node.items as Obj, `${path}[]`);
      if (node.additionalProperties && typeof node.additionalProperties === "object")
        walk(node.additionalProperties as Obj, `${path}{}`);
    };
    for (const f of CRD_FILES)
      for (const crd of fileDocs(f))
        for (const v of (crd.spec as { versions: Obj[] }).versions)
          walk(
            (v.schema as { openAPIV3Schema: Obj }).openAPIV3Schema,
            `${(crd.metadata as Obj).name}/${v.name}`,
          );
    expect(problems).toEqual([]);
  });

  for (const [name, dir] of [
    ["deploy/kubernetes", DEPLOY],
    ["examples/bookinfo/kubernetes", EXAMPLE],
  ] as const) {
    it(`${name}: every document is a valid built-in object or a valid custom resource of our CRDs`, async () => {
      let builtIn = 0;
      let custom = 0;
      for (const f of yamlFiles(dir)) {
        for (const o of fileDocs(f)) {
          if (await isBuiltIn(o)) {
            await validateBuiltIn(o);
            builtIn++;
          } else {
            expect(validateCustom(validators, o), `${f}: ${String(o.kind)}`).toBeUndefined();
            custom++;
          }
        }
      }
      expect(builtIn).toBeGreaterThan(5);
      // Gateway, 3 VirtualServices, 4 DestinationRules, TrafficLabel, PeerAuthentication
      if (dir === EXAMPLE) expect(custom).toBe(10);
    });
  }

  it("the CRD schemas reject what the API server would: a wrong type, an unknown field", () => {
    const tl = fileDocs(join(EXAMPLE, "traffic-label.yaml"))[0]!;
    expect(validateCustom(validators, tl)).toBeUndefined();
    const badType = structuredClone(tl) as { spec: { rules: { labels: { name: unknown }[] }[] } };
    badType.spec.rules[0]!.labels[0]!.name = 42;
    expect(validateCustom(validators, badType as unknown as Obj)).toMatch(/name/);
    const unknown = structuredClone(tl) as { spec: Obj };
    unknown.spec.rulez = [];
    expect(validateCustom(validators, unknown as unknown as Obj)).toMatch(/additional/);
    const dr = fileDocs(join(EXAMPLE, "networking.yaml")).find((o) => o.kind === "DestinationRule")!;
    const noHost = structuredClone(dr) as { spec: Obj };
    delete noHost.spec.host;
    expect(validateCustom(validators, noHost as unknown as Obj)).toMatch(/host/);
  });

  it("ASM's and Istio's own documented TrafficLabel and VirtualService examples fit our CRDs", () => {
    for (const f of yamlFiles(ASM))
      for (const o of fileDocs(f)) expect(validateCustom(validators, o), f).toBeUndefined();
    const networking = join(REPO, "../shared/conformance/istio/bookinfo-networking");
    for (const f of yamlFiles(networking))
      for (const o of fileDocs(f)) expect(validateCustom(validators, o), f).toBeUndefined();
  });

  it("lanecar validate passes on the walkthrough's Istio-kind files", async () => {
    const r = await runCli(["validate", "-n", "bookinfo", EXAMPLE]);
    expect(r.out.join("\n")).toMatch(/^valid: 10 resources/m);
    expect(r.code).toBe(0);
  });

  it("RBAC is read-only (but the pods' CertificateRequests); the webhook fails open and selects labelled namespaces only", () => {
    const all = yamlFiles(DEPLOY).flatMap(fileDocs);
    for (const role of all.filter((o) => o.kind === "ClusterRole" || o.kind === "Role")) {
      // csi-driver-spiffe asks for a pod's certificate with the pod's token: create, nothing else.
      if ((role.metadata as Obj).name === "lanecar-workload-identity") {
        expect(role.rules).toEqual([
          { apiGroups: ["cert-manager.io"], resources: ["certificaterequests"], verbs: ["create"] },
        ]);
        continue;
      }
      for (const rule of role.rules as { verbs: string[] }[])
        expect(rule.verbs.sort()).toEqual(["get", "list", "watch"]);
    }
    // Discovery reads the security kinds too; Secrets are never read.
    const discovery = all.find(
      (o) => o.kind === "ClusterRole" && (o.metadata as Obj).name === "lanecar-discovery",
    )!;
    expect(discovery.rules).toContainEqual({
      apiGroups: ["security.istio.io"],
      resources: ["peerauthentications", "authorizationpolicies"],
      verbs: ["get", "list", "watch"],
    });
    expect(JSON.stringify(discovery.rules)).not.toContain("secrets");
    // Every kind discovery watches is granted (a missing one would be a 403 at start-up).
    const rules = discovery.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    for (const k of CONFIG_KINDS)
      expect(
        rules.some((r) => r.apiGroups.includes(k.group) && r.resources.includes(k.plural)),
        `${k.plural}.${k.group}`,
      ).toBe(true);
    const hook = all.find((o) => o.kind === "MutatingWebhookConfiguration")!;
    const [w] = hook.webhooks as Obj[];
    expect(w).toMatchObject({
      failurePolicy: "Ignore",
      sideEffects: "None",
      admissionReviewVersions: ["v1"],
      namespaceSelector: { matchLabels: { "lanecar-injection": "enabled" } },
      clientConfig: { service: { name: "lanecar-injector", namespace: "lanecar-system", path: "/inject" } },
    });
    // The Service the webhook calls exists and selects the injector pods.
    const svc = all.find((o) => o.kind === "Service" && (o.metadata as Obj).name === "lanecar-injector")!;
    expect((svc.spec as { selector: Obj }).selector).toEqual({ app: "lanecar-injector" });
  });

  it.skipIf(KUBECTL_MISSING !== undefined)(
    "webhook-cert.sh's pair makes, through the real kubectl offline, the Secret the injector mounts",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "lanecar-cert-"));
      try {
        const gen = spawnSync("sh", [join(DEPLOY, "webhook-cert.sh"), "--out", dir], { encoding: "utf8" });
        expect(gen.status, gen.stderr).toBe(0);
        // The step the script pipes into `kubectl apply` (kubectl 1.32 is on the machines).
        const args = ["-n", "lanecar-system", "create", "secret", "tls", "lanecar-injector-tls"];
        const kubectl = spawnSync(
          "kubectl",
          [
            ...args,
            "--cert",
            join(dir, "tls.crt"),
            "--key",
            join(dir, "tls.key"),
            "--dry-run=client",
            "-o",
            "yaml",
          ],
          { encoding: "utf8", env: { ...process.env, KUBECONFIG: "/dev/null" } },
        );
        expect(kubectl.status, kubectl.stderr).toBe(0);
        const [secret] = docs(kubectl.stdout);
        await validateBuiltIn(secret!);
        expect(secret).toMatchObject({
          kind: "Secret",
          type: "kubernetes.io/tls",
          metadata: { name: "lanecar-injector-tls" },
        });
        const injector = yamlFiles(DEPLOY)
          .flatMap(fileDocs)
          .find((o) => o.kind === "Deployment" && (o.metadata as Obj).name === "lanecar-injector")!;
        const volumes = ((injector.spec as Obj).template as { spec: { volumes: Obj[] } }).spec.volumes;
        expect(volumes).toContainEqual({ name: "tls", secret: { secretName: "lanecar-injector-tls" } });
        expect(Object.keys((secret as { data: Obj }).data).sort()).toEqual(["tls.crt", "tls.key"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it("the walkthrough starts with the seed's replica counts and lane labels", () => {
    const deployments = fileDocs(join(EXAMPLE, "bookinfo.yaml")).filter((o) => o.kind === "Deployment");
    const replicas = Object.fromEntries(
      deployments.map((d) => [(d.metadata as Obj).name, (d.spec as Obj).replicas]),
    );
    expect(replicas).toEqual({
      "details-v1": 1,
      "ratings-v1": 1,
      "ratings-v2": 0,
      "reviews-v1": 1,
      "reviews-v2": 0,
      "reviews-v3": 0,
      "productpage-v1": 1,
      "productpage-v2": 0,
    });
    for (const d of deployments) {
      const labels = ((d.spec as Obj).template as { metadata: { labels: Obj } }).metadata.labels;
      expect(labels.ASM_TRAFFIC_TAG).toBe(
        labels.version === "v1" ? "prod" : labels.version === "v2" ? "gray" : "dev",
      );
    }
  });
});
