/** Kubernetes objects → discovered services: the API's rules for endpoints, ports and readiness. */
import { describe, expect, it } from "vitest";
import {
  discoveredService,
  type EndpointSliceObject,
  type PodInfo,
  podInfo,
  rawResource,
  slimPod,
} from "../../src/kubernetes/translate.js";

const svc = {
  metadata: { name: "reviews", namespace: "shop" },
  spec: {
    ports: [
      { name: "http", port: 9080, targetPort: 8080 },
      { name: "admin", port: 9901, targetPort: "admin" },
    ],
  },
};

function sl(
  name: string,
  endpoints: EndpointSliceObject["endpoints"],
  addressType = "IPv4",
): EndpointSliceObject {
  return {
    metadata: { name, namespace: "shop", labels: { "kubernetes.io/service-name": "reviews" } },
    addressType,
    ports: [
      { name: "http", port: 8080 },
      { name: "admin", port: 15000 },
    ],
    endpoints,
  };
}

const pods: Record<string, PodInfo> = {
  "shop/reviews-v2-0": { labels: { ASM_TRAFFIC_TAG: "gray" }, serviceAccount: "reviews" },
};

describe("discoveredService", () => {
  it("names the host, keeps numeric target ports, gives endpoints their pod's labels, service account and slice ports", () => {
    const d = discoveredService(
      svc,
      [sl("a", [{ addresses: ["10.0.0.2", "10.0.0.3"], targetRef: { kind: "Pod", name: "reviews-v2-0" } }])],
      (k) => pods[k],
    );
    expect(d.host).toBe("reviews.shop.svc.cluster.local");
    expect(d.ports).toEqual([
      { number: 9080, name: "http", protocol: "HTTP", targetPort: 8080 },
      { number: 9901, name: "admin", protocol: "HTTP" },
    ]);
    expect(d.instances).toEqual([
      {
        address: "10.0.0.2",
        ports: { http: 8080, admin: 15000 },
        labels: { ASM_TRAFFIC_TAG: "gray" },
        weight: 1,
        ready: true,
        origin: "Pod/shop/reviews-v2-0",
        serviceAccount: "reviews",
      },
    ]);
  });

  it("a pod keeps its labels and spec.serviceAccountName, nothing else; none named is none known", () => {
    const full = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "shop", labels: { app: "reviews" }, annotations: { big: "x" } },
      spec: { serviceAccountName: "reviews", containers: [{ name: "app" }] },
    };
    expect(slimPod(full)).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "shop", labels: { app: "reviews" } },
      spec: { serviceAccountName: "reviews" },
    });
    expect(podInfo(slimPod(full))).toEqual({ labels: { app: "reviews" }, serviceAccount: "reviews" });
    expect(podInfo({ metadata: { name: "q" }, spec: {} })).toEqual({ labels: {}, serviceAccount: undefined });
  });

  it("ready: nil is ready, false is not (terminating endpoints are not ready); FQDN slices are skipped", () => {
    const d = discoveredService(
      svc,
      [
        sl("a", [
          { addresses: ["10.0.0.1"], conditions: {} },
          { addresses: ["10.0.0.2"], conditions: { ready: false, serving: true, terminating: true } },
        ]),
        sl("b", [{ addresses: ["db.example.com"] }], "FQDN"),
      ],
      () => undefined,
    );
    expect(d.instances.map((i) => [i.address, i.ready, i.origin])).toEqual([
      ["10.0.0.1", true, "EndpointSlice/shop/a"],
      ["10.0.0.2", false, "EndpointSlice/shop/a"],
    ]);
  });

  it("an endpoint in two slices (while they are rebalanced) counts once, ready if either says so", () => {
    const d = discoveredService(
      svc,
      [
        sl("a", [{ addresses: ["10.0.0.1"], conditions: { ready: false } }]),
        sl("b", [{ addresses: ["10.0.0.1"], conditions: { ready: true } }]),
      ],
      () => undefined,
    );
    expect(d.instances.map((i) => [i.address, i.ready])).toEqual([["10.0.0.1", true]]);
  });
});

describe("rawResource", () => {
  it("keeps kind, apiVersion, name, namespace, labels and spec; diagnostics name the cluster", () => {
    const r = rawResource(
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "reviews", namespace: "shop", labels: { team: "books" } },
        spec: { hosts: ["reviews"] },
      },
      "east",
    );
    expect(r).toMatchObject({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      name: "reviews",
      namespace: "shop",
      labels: { team: "books" },
      spec: { hosts: ["reviews"] },
    });
    expect(r.source.file).toBe("kubernetes:east");
  });
});
