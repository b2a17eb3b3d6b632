import type { Endpoint } from "@lanecar/core";
import { describe, expect, it } from "vitest";
import { workloadName } from "../../src/runtime.js";
import {
  destinationEdgeLabels,
  EDGE_LABELS,
  serviceNames,
  sourceEdgeLabels,
} from "../../src/telemetry/istio-labels.js";
import { decodePeerMetadata, encodePeerMetadata } from "../../src/telemetry/peer-metadata.js";
import { endpointMetadata, metadataFromLabels } from "../../src/telemetry/workload-metadata.js";

const named = (values: readonly string[]) => Object.fromEntries(EDGE_LABELS.map((l, i) => [l, values[i]]));

function endpoint(origin: string, labels: Record<string, string>): Endpoint {
  return {
    key: "10.0.0.7:9080",
    address: "10.0.0.7",
    port: 9080,
    labels,
    weight: 1,
    probe: undefined,
    origin,
  };
}

const productpage = metadataFromLabels({ app: "productpage", version: "v1" }, "productpage-v1", "default");
const reviews = metadataFromLabels({ app: "reviews", version: "v2" }, "reviews-v2", "default");
const REVIEWS = serviceNames("reviews.default.svc.cluster.local");

describe("workload metadata, derived from labels as Istio derives it", () => {
  it("takes the canonical service from canonical-name, app.kubernetes.io/name, app, then the workload", () => {
    const full = {
      "service.istio.io/canonical-name": "cn",
      "app.kubernetes.io/name": "kn",
      app: "a",
      "service.istio.io/canonical-revision": "cr",
      "app.kubernetes.io/version": "kv",
      version: "v",
    };
    expect(metadataFromLabels(full, "w", "ns")).toMatchObject({
      canonicalService: "cn",
      canonicalRevision: "cr",
      app: "kn",
      version: "kv",
    });
    expect(metadataFromLabels({ "app.kubernetes.io/name": "kn", app: "a" }, "w", "ns").canonicalService).toBe(
      "kn",
    );
    expect(metadataFromLabels({ app: "a", version: "v" }, "w", "ns")).toMatchObject({
      canonicalService: "a",
      canonicalRevision: "v",
      app: "a",
      version: "v",
    });
    expect(metadataFromLabels({}, "w", "ns")).toMatchObject({
      canonicalService: "w",
      canonicalRevision: "latest",
      app: "",
      version: "",
      cluster: "",
    });
    expect(metadataFromLabels({ "topology.istio.io/cluster": "east" }, "w", "ns").cluster).toBe("east");
    expect(metadataFromLabels({ "topology.istio.io/cluster": "east" }, "w", "ns", "west").cluster).toBe(
      "west",
    );
  });

  it("names an endpoint's workload by its WorkloadEntry, or its workload-name label", () => {
    expect(endpointMetadata(endpoint("WorkloadEntry/default/reviews-v2", { app: "reviews" }))).toMatchObject({
      workload: "reviews-v2",
      namespace: "default",
      app: "reviews",
      canonicalService: "reviews",
    });
    expect(endpointMetadata(endpoint("ServiceEntry/shop/cart", {}))).toMatchObject({
      workload: "",
      namespace: "shop",
      canonicalService: "",
    });
    expect(
      endpointMetadata(endpoint("ServiceEntry/shop/cart", { "service.istio.io/workload-name": "cart-v3" }))
        .workload,
    ).toBe("cart-v3");
  });

  it("names this process's workload by --workload, the workload-name label, then <app>-<version>", () => {
    expect(workloadName("reviews", { app: "reviews", version: "v2" }, "reviews-canary")).toBe(
      "reviews-canary",
    );
    expect(workloadName("reviews", { "service.istio.io/workload-name": "rv", app: "reviews" })).toBe("rv");
    expect(workloadName("reviews", { app: "reviews", version: "v2" })).toBe("reviews-v2");
    expect(workloadName("reviews.default.svc.cluster.local", {})).toBe("reviews");
  });
});

describe("peer metadata header", () => {
  it("round-trips a workload's metadata", () => {
    const v = encodePeerMetadata(productpage);
    expect(v).toBe(
      "workload=productpage-v1,namespace=default,app=productpage,version=v1,service=productpage,revision=v1",
    );
    expect(decodePeerMetadata(v)).toEqual(productpage);
  });

  it("ignores fields that are not label-like, unknown keys, and over-long values", () => {
    expect(decodePeerMetadata('workload=a b,namespace=ns,app="x",x=y,service=s')).toMatchObject({
      workload: "",
      namespace: "ns",
      app: "",
      canonicalService: "s",
    });
    expect(decodePeerMetadata("nonsense")).toBeUndefined();
    expect(decodePeerMetadata("")).toBeUndefined();
    expect(decodePeerMetadata(`workload=${"a".repeat(3000)}`)).toBeUndefined();
  });
});

describe("Istio's standard labels per reporter", () => {
  it("destination reporter: the source from peer metadata, the destination from this workload", () => {
    expect(named(destinationEdgeLabels(reviews, REVIEWS, productpage))).toEqual({
      reporter: "destination",
      source_workload: "productpage-v1",
      source_workload_namespace: "default",
      source_principal: "unknown",
      source_app: "productpage",
      source_version: "v1",
      source_canonical_service: "productpage",
      source_canonical_revision: "v1",
      source_cluster: "unknown",
      destination_workload: "reviews-v2",
      destination_workload_namespace: "default",
      destination_principal: "unknown",
      destination_app: "reviews",
      destination_version: "v2",
      destination_service: "reviews.default.svc.cluster.local",
      destination_service_name: "reviews",
      destination_service_namespace: "default",
      destination_canonical_service: "reviews",
      destination_canonical_revision: "v2",
      destination_cluster: "unknown",
      request_protocol: "http",
      grpc_response_status: "",
      connection_security_policy: "none",
    });
  });

  it("destination reporter without peer metadata: source unknown, revision latest (as Istio)", () => {
    const l = named(destinationEdgeLabels(reviews, REVIEWS, undefined));
    expect(l).toMatchObject({
      source_workload: "unknown",
      source_workload_namespace: "unknown",
      source_app: "unknown",
      source_version: "unknown",
      source_canonical_service: "unknown",
      source_canonical_revision: "latest",
      destination_workload: "reviews-v2",
    });
  });

  it("source reporter: this workload, and the chosen endpoint's workload", () => {
    const ep = endpointMetadata(
      endpoint("WorkloadEntry/default/reviews-v2", {
        app: "reviews",
        version: "v2",
        ASM_TRAFFIC_TAG: "gray",
      }),
    );
    expect(named(sourceEdgeLabels(productpage, REVIEWS, ep))).toMatchObject({
      reporter: "source",
      source_workload: "productpage-v1",
      source_canonical_service: "productpage",
      destination_workload: "reviews-v2",
      destination_workload_namespace: "default",
      destination_app: "reviews",
      destination_version: "v2",
      destination_service: "reviews.default.svc.cluster.local",
      destination_service_name: "reviews",
      destination_service_namespace: "default",
      destination_canonical_service: "reviews",
      destination_canonical_revision: "v2",
      connection_security_policy: "unknown",
    });
  });

  it("source reporter with no endpoint (404 NR, 503 UH): destination workload unknown", () => {
    expect(
      named(sourceEdgeLabels(productpage, serviceNames("httpbin.org", "default"), undefined)),
    ).toMatchObject({
      destination_workload: "unknown",
      destination_app: "unknown",
      destination_version: "unknown",
      destination_service: "httpbin.org",
      destination_service_name: "httpbin.org",
      destination_service_namespace: "default",
      destination_canonical_service: "unknown",
      destination_canonical_revision: "latest",
    });
  });
});
