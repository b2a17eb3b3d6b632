/**
 * The Kubernetes API fake is checked against the real client: `kubectl` (1.32) lists and watches
 * through a kubeconfig pointing at it. If the fake's discovery, list, paging or watch framing
 * drifted from the real API server's, kubectl would fail or print something else.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiFake } from "../support/kube-api-fake.js";

const KUBECTL = process.env.KUBECTL ?? "kubectl";

function kubectlMissing(): string | undefined {
  const r = spawnSync(KUBECTL, ["version", "--client"], { encoding: "utf8" });
  return r.error || r.status !== 0
    ? `kubectl is not installed (${KUBECTL}); these tests need kubectl 1.32`
    : undefined;
}

let api: KubeApiFake;
let kubeconfig: string;

/** Runs kubectl without blocking this process's event loop (the fake answers from it). */
function kubectl(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(KUBECTL, ["--kubeconfig", kubeconfig, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => {
      out += c.toString();
    });
    child.stderr.on("data", (c) => {
      err += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const pod = (name: string, ns: string, labels: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, labels },
  spec: { containers: [{ name: "app", image: "bookinfo" }] },
  status: { phase: "Running", podIP: "10.0.0.1" },
});

beforeAll(async () => {
  const missing = kubectlMissing();
  if (missing) throw new Error(missing);
  api = await new KubeApiFake().start();
  const dir = mkdtempSync(join(tmpdir(), "lanecar-kube-"));
  kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, api.kubeconfig());
  for (let i = 0; i < 7; i++) api.apply(pod(`reviews-v1-${i}`, "default", { app: "reviews", version: "v1" }));
  api.apply(pod("ratings-v1-0", "other", { app: "ratings" }));
  api.apply({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "reviews-abc",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "reviews" },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port: 9080, protocol: "TCP" }],
    endpoints: [{ addresses: ["10.0.0.1"], conditions: { ready: true } }],
  });
  api.apply({
    apiVersion: "networking.istio.io/v1beta1",
    kind: "VirtualService",
    metadata: { name: "reviews", namespace: "default" },
    spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews" } }] }] },
  });
});

afterAll(async () => {
  await api?.close();
});

describe("the Kubernetes API fake, read by the real kubectl", () => {
  it("lists pods in every namespace in pages of --chunk-size (limit + continue)", async () => {
    const r = await kubectl(["get", "pods", "-A", "-o", "json", "--chunk-size", "3"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as { items: { metadata: { name: string; namespace: string } }[] };
    expect(list.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()).toEqual(
      [...Array.from({ length: 7 }, (_, i) => `default/reviews-v1-${i}`), "other/ratings-v1-0"].sort(),
    );
    const pages = api.requests.filter((q) => q.startsWith("GET /api/v1/pods?"));
    expect(pages.length).toBe(3);
    expect(pages.slice(1).every((q) => q.includes("continue="))).toBe(true);
  });

  it("lists endpointslices and the VirtualService CRD by its full name (discovery of /apis groups)", async () => {
    const s = await kubectl(["get", "endpointslices", "-o", "json"]);
    expect(s.code, s.err).toBe(0);
    expect((JSON.parse(s.out) as { items: { metadata: { name: string } }[] }).items[0]!.metadata.name).toBe(
      "reviews-abc",
    );
    const v = await kubectl(["get", "virtualservices.networking.istio.io", "-o", "json"]);
    expect(v.code, v.err).toBe(0);
    const vs = JSON.parse(v.out) as { items: { kind: string; spec: { hosts: string[] } }[] };
    expect(vs.items[0]!.kind).toBe("VirtualService");
    expect(vs.items[0]!.spec.hosts).toEqual(["reviews"]);
    const one = await kubectl(["get", "pod", "reviews-v1-3", "-o", "jsonpath={.metadata.labels.version}"]);
    expect(one.out).toBe("v1");
  });

  it("answers an unknown resource type as the API server does (kubectl says so)", async () => {
    const r = await kubectl(["get", "widgets.example.com"]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(
      /doesn't have a resource type "widgets"|the server could not find the requested resource/,
    );
    const missing = await kubectl(["get", "pod", "nope"]);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('pods "nope" not found');
  });

  it("streams a watch kubectl follows: changes after its list arrive as they happen", async () => {
    const child = spawn(
      KUBECTL,
      [
        "--kubeconfig",
        kubeconfig,
        "get",
        "pods",
        "-n",
        "default",
        "--watch",
        "-o",
        "json",
        "--request-timeout",
        "20s",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (c) => {
      out += c.toString();
    });
    try {
      // kubectl prints the listed pods first; then our changes must follow over the watch.
      const until = async (pred: () => boolean, what: string) => {
        const end = Date.now() + 15_000;
        while (!pred()) {
          if (Date.now() > end) throw new Error(`timed out waiting for ${what}; kubectl printed:\n${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(() => out.includes("reviews-v1-6"), "the initial list");
      await until(() => api.openWatches > 0, "kubectl's watch");
      api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2" }));
      await until(() => out.includes("reviews-v2-0"), "the ADDED pod");
      api.apply(pod("reviews-v2-0", "default", { app: "reviews", version: "v2", ready: "yes" }));
      await until(() => out.includes('"ready": "yes"'), "the MODIFIED pod");
      const watch = api.requests.find(
        (q) => q.startsWith("GET /api/v1/namespaces/default/pods?") && q.includes("watch=true"),
      );
      expect(watch).toMatch(/resourceVersion=\d+/);
    } finally {
      child.kill("SIGTERM");
    }
  });
});
