/**
 * Acceptance: the ASM full-link gray release walkthrough (seeds/004) on test/fixtures/asm.
 * prod instances are v1 (ASM_TRAFFIC_TAG=prod), gray instances are v2 (ASM_TRAFFIC_TAG=gray),
 * details has no gray instance. The TrafficLabel reads `$getContext(x-request-id)` then
 * `$(localLabel)`; each VirtualService routes to `$trafficLabel` and falls back to `prod`.
 *
 * Core keeps no state, so this suite plays the sidecar's part around it: a Map is the correlation
 * store (inbound records under each correlation header), and the labels resolved on an outbound
 * call travel to the next hop as header `trafficlabel` (SPEC 3), while the app forwards nothing
 * but `x-request-id`.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  type Availability,
  availabilityExcept,
  buildSnapshot,
  type ConfigSnapshot,
  type CorrelationLookup,
  type CorrelationRecord,
  correlationKey,
  DEFAULT_CORRELATION_HEADERS,
  type Explanation,
  explain,
  formatDiagnostic,
  headerGetter,
  loadSnapshot,
  type ResolvedLabels,
  readConfigTexts,
} from "../../src/index.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/asm", import.meta.url));

function asm(): ConfigSnapshot {
  const r = loadSnapshot([FIXTURE]);
  if (!r.snapshot) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.snapshot;
}

/** The fixture plus an ingress gateway that decides the lane of /productpage at the edge. */
function asmWithGateway(): ConfigSnapshot {
  const { texts } = readConfigTexts([FIXTURE]);
  const r = buildSnapshot([
    ...texts,
    {
      file: "gateway.yaml",
      text: `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: bookinfo}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{uri: {exact: /productpage}}, {uri: {prefix: /static}}]
    route:
    - destination: {host: productpage, subset: $trafficLabel, port: {number: 9080}}
      fallback:
        case: noinstances|noavailabled
        target: {host: productpage, subset: prod}
`,
    },
  ]);
  if (!r.snapshot) throw new Error(r.diagnostics.map(formatDiagnostic).join("\n"));
  return r.snapshot;
}

/** Pod labels of the walkthrough's Deployments (and of the fixture's endpoints). */
const POD = {
  productpageProd: { app: "productpage", version: "v1", ASM_TRAFFIC_TAG: "prod" },
  productpageGray: { app: "productpage", version: "v2", ASM_TRAFFIC_TAG: "gray" },
  productpageUntagged: { app: "productpage", version: "v1" },
  reviewsProd: { app: "reviews", version: "v1", ASM_TRAFFIC_TAG: "prod" },
  reviewsGray: { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" },
  reviewsV3: { app: "reviews", version: "v3" },
  gateway: { istio: "ingressgateway" },
} as const;

/** Endpoint ports of the fixture. */
const PORT = {
  productpageProd: 19101,
  productpageGray: 19102,
  details: 19103,
  reviewsProd: 19104,
  reviewsGray: 19105,
  reviewsV3: 19106,
  ratingsProd: 19107,
  ratingsGray: 19108,
};

const down = (...ports: number[]): Availability => availabilityExcept(ports.map((p) => `127.0.0.1:${p}`));

/** One sidecar beside one pod: label resolution on inbound and outbound, and its correlation store. */
class Sidecar {
  readonly store = new Map<string, CorrelationRecord>();
  readonly lookup: CorrelationLookup = (ctx, key) => this.store.get(`${ctx}\0${key}`);

  constructor(
    readonly snapshot: ConfigSnapshot,
    readonly podLabels: Readonly<Record<string, string>>,
  ) {}

  /** A request arrives for the app: resolve its labels and record them under each correlation header. */
  inbound(headers: Record<string, string>): ResolvedLabels {
    const resolver = this.snapshot.labelResolver("default", this.podLabels);
    const get = headerGetter(headers);
    const resolved = resolver.resolve("inbound", get, this.podLabels);
    const kept: Record<string, string> = {};
    for (const h of resolver.recordHeaders) {
      const v = get(h);
      if (v !== undefined) kept[h] = v;
    }
    for (const ctx of new Set([...DEFAULT_CORRELATION_HEADERS, ...resolver.contextHeaders])) {
      const key = correlationKey(ctx, get(ctx));
      if (key !== undefined) this.store.set(`${ctx}\0${key}`, { headers: kept, labels: resolved.values });
    }
    return resolved;
  }

  /** The app calls out: resolve labels (correlated with the inbound request) and route. */
  outbound(request: string, headers: Record<string, string>, availability?: Availability): Explanation {
    return explain(this.snapshot, {
      request,
      headers,
      podLabels: this.podLabels,
      correlation: this.lookup,
      ...(availability ? { availability } : {}),
    });
  }
}

/** The headers the next hop receives: what the app sent, plus each resolved label as a header. */
const forwarded = (appHeaders: Record<string, string>, labels: Record<string, string>) => ({
  ...appHeaders,
  ...labels,
});

/** Where a decision ends: the subset after fallback. */
const finalSubset = (e: Explanation) => (e.fallback ? e.fallback.to.subset : e.destination?.subset);
const availablePorts = (e: Explanation) => e.endpoints.filter((p) => p.available).map((p) => p.port);

interface HopRow {
  description: string;
  pod: Readonly<Record<string, string>>;
  /** Headers of the request the pod received (direction inbound), or none. */
  inbound?: Record<string, string>;
  /** The app's outbound call (direction outbound): it forwards only x-request-id. */
  outbound: { request: string; headers: Record<string, string> };
  down?: number[];
  expected: {
    label: string | undefined;
    subset: string | undefined;
    ports: number[];
    fallback: null | { reason: "noinstances" | "noavailabled"; from: string; to: string };
    invalid?: number;
  };
}

const RID = { "x-request-id": "7c1e0b8a-3f0d-4b8e-a1d5-000000000001" };
const GRAY_IN = { ...RID, trafficLabel: "gray" };

const HOPS: HopRow[] = [
  {
    description:
      "gray label from the inbound header, resolved on outbound via $getContext(x-request-id): reviews gray",
    pod: POD.productpageProd,
    inbound: GRAY_IN,
    outbound: { request: "GET http://reviews:9080/reviews/0", headers: RID },
    expected: { label: "gray", subset: "gray", ports: [PORT.reviewsGray], fallback: null },
  },
  {
    description: "details has no gray instance: falls back to prod (noinstances)",
    pod: POD.productpageProd,
    inbound: GRAY_IN,
    outbound: { request: "GET http://details:9080/details/0", headers: RID },
    expected: {
      label: "gray",
      subset: "prod",
      ports: [PORT.details],
      fallback: { reason: "noinstances", from: "gray", to: "prod" },
    },
  },
  {
    description: "gray reviews pod calling ratings: ratings gray",
    pod: POD.reviewsGray,
    inbound: GRAY_IN,
    outbound: { request: "GET http://ratings:9080/ratings/0", headers: RID },
    expected: { label: "gray", subset: "gray", ports: [PORT.ratingsGray], fallback: null },
  },
  {
    description: "a call to the FQDN of productpage stays in the gray lane",
    pod: POD.productpageGray,
    inbound: GRAY_IN,
    outbound: { request: "GET http://productpage.default.svc.cluster.local:9080/", headers: RID },
    expected: { label: "gray", subset: "gray", ports: [PORT.productpageGray], fallback: null },
  },
  {
    description:
      "pod label ASM_TRAFFIC_TAG=gray (last valueFrom source) starts gray traffic without any header",
    pod: POD.productpageGray,
    inbound: RID,
    outbound: { request: "GET http://reviews:9080/reviews/0", headers: RID },
    expected: { label: "gray", subset: "gray", ports: [PORT.reviewsGray], fallback: null },
  },
  {
    description: "pod label gray, details: prod fallback",
    pod: POD.productpageGray,
    outbound: { request: "GET http://details:9080/details/0", headers: {} },
    expected: {
      label: "gray",
      subset: "prod",
      ports: [PORT.details],
      fallback: { reason: "noinstances", from: "gray", to: "prod" },
    },
  },
  {
    description: "no label on the request, prod pod: reviews prod",
    pod: POD.productpageProd,
    inbound: RID,
    outbound: { request: "GET http://reviews:9080/reviews/0", headers: RID },
    expected: { label: "prod", subset: "prod", ports: [PORT.reviewsProd], fallback: null },
  },
  {
    description: "no label on the request, prod pod: details prod (no fallback needed)",
    pod: POD.productpageProd,
    inbound: RID,
    outbound: { request: "GET http://details:9080/details/0", headers: RID },
    expected: { label: "prod", subset: "prod", ports: [PORT.details], fallback: null },
  },
  {
    description: "no label and an untagged pod: the label is unresolved, so prod by fallback",
    pod: POD.reviewsV3,
    inbound: RID,
    outbound: { request: "GET http://ratings:9080/ratings/0", headers: RID },
    expected: {
      label: undefined,
      subset: "prod",
      ports: [PORT.ratingsProd],
      fallback: { reason: "noinstances", from: "$trafficlabel", to: "prod" },
    },
  },
  {
    description: "reviews gray instance down: noavailabled fallback to prod",
    pod: POD.productpageProd,
    inbound: GRAY_IN,
    outbound: { request: "GET http://reviews:9080/reviews/0", headers: RID },
    down: [PORT.reviewsGray],
    expected: {
      label: "gray",
      subset: "prod",
      ports: [PORT.reviewsProd],
      fallback: { reason: "noavailabled", from: "gray", to: "prod" },
    },
  },
  {
    description:
      "reviews gray down: the prod reviews pod that served the fallback keeps the gray label, so ratings stays gray",
    pod: POD.reviewsProd,
    inbound: GRAY_IN,
    outbound: { request: "GET http://ratings:9080/ratings/0", headers: RID },
    down: [PORT.reviewsGray],
    expected: { label: "gray", subset: "gray", ports: [PORT.ratingsGray], fallback: null },
  },
  {
    description: "ratings gray down as well: ratings falls back to prod too",
    pod: POD.reviewsProd,
    inbound: GRAY_IN,
    outbound: { request: "GET http://ratings:9080/ratings/0", headers: RID },
    down: [PORT.reviewsGray, PORT.ratingsGray],
    expected: {
      label: "gray",
      subset: "prod",
      ports: [PORT.ratingsProd],
      fallback: { reason: "noavailabled", from: "gray", to: "prod" },
    },
  },
  {
    description: "a missing correlation record means no value (not the last one seen): the pod's own lane",
    pod: POD.productpageProd,
    inbound: GRAY_IN,
    outbound: {
      request: "GET http://reviews:9080/reviews/0",
      headers: { "x-request-id": "some-other-request" },
    },
    expected: { label: "prod", subset: "prod", ports: [PORT.reviewsProd], fallback: null },
  },
  {
    description: "the app cannot pick a lane by sending the label header itself on outbound",
    pod: POD.productpageProd,
    outbound: { request: "GET http://reviews:9080/reviews/0", headers: { trafficlabel: "gray" } },
    expected: { label: "prod", subset: "prod", ports: [PORT.reviewsProd], fallback: null },
  },
  {
    description: "an invalid inbound label (CR/LF) is ignored and counted; the pod's lane applies",
    pod: POD.productpageProd,
    inbound: { ...RID, trafficlabel: "gray\r\nx-injected: 1" },
    outbound: { request: "GET http://reviews:9080/reviews/0", headers: RID },
    expected: { label: "prod", subset: "prod", ports: [PORT.reviewsProd], fallback: null, invalid: 1 },
  },
  {
    description: "an unknown lane (blue) falls back to prod (noinstances)",
    pod: POD.productpageProd,
    inbound: { ...RID, trafficlabel: "blue" },
    outbound: { request: "GET http://reviews:9080/reviews/0", headers: RID },
    expected: {
      label: "blue",
      subset: "prod",
      ports: [PORT.reviewsProd],
      fallback: { reason: "noinstances", from: "blue", to: "prod" },
    },
  },
];

describe("ASM walkthrough, hop by hop", () => {
  const s = asm();

  it("the fixture validates cleanly", () => {
    expect(s.warnings.map(formatDiagnostic)).toEqual([]);
  });

  it.each(HOPS.map((r) => [r.description, r] as const))("%s", (_d, row) => {
    const sidecar = new Sidecar(s, row.pod);
    const inbound = row.inbound ? sidecar.inbound(row.inbound) : undefined;
    if (row.expected.invalid !== undefined) expect(inbound?.invalid).toBe(row.expected.invalid);
    const avail = row.down ? down(...row.down) : undefined;
    const e = sidecar.outbound(row.outbound.request, row.outbound.headers, avail);
    expect(e.labels.trafficlabel).toBe(row.expected.label);
    expect(e.action).toBe("route");
    expect(e.status).toBeNull();
    expect(finalSubset(e)).toBe(row.expected.subset);
    expect(availablePorts(e)).toEqual(row.expected.ports);
    if (row.expected.fallback === null) expect(e.fallback).toBeNull();
    else {
      expect(e.fallback?.reason).toBe(row.expected.fallback.reason);
      expect(e.fallback?.from.subset).toBe(row.expected.fallback.from);
      expect(e.fallback?.to.subset).toBe(row.expected.fallback.to);
    }
  });

  it("requests of different lanes through one pod stay apart, correlated by x-request-id", () => {
    const pp = new Sidecar(s, POD.productpageProd);
    pp.inbound({ "x-request-id": "req-gray", trafficlabel: "gray" });
    pp.inbound({ "x-request-id": "req-plain" });
    pp.inbound({ "x-request-id": "req-blue", trafficlabel: "blue" });
    const to = (rid: string) =>
      availablePorts(pp.outbound("GET http://reviews:9080/", { "x-request-id": rid }));
    expect(to("req-gray")).toEqual([PORT.reviewsGray]);
    expect(to("req-plain")).toEqual([PORT.reviewsProd]);
    expect(to("req-blue")).toEqual([PORT.reviewsProd]);
    expect(to("req-gray")).toEqual([PORT.reviewsGray]);
  });

  it("explain says where the label came from and why it fell back", () => {
    const pp = new Sidecar(s, POD.productpageProd);
    pp.inbound(GRAY_IN);
    const e = pp.outbound("GET http://details:9080/details/0", RID);
    expect(e.reasons).toEqual([
      "label trafficlabel=gray from $getContext(x-request-id) (TrafficLabel/default/default)",
      "matched rule details/0",
      "destination details.default.svc.cluster.local subset gray",
      "fallback (noinstances): details.default.svc.cluster.local subset gray → details.default.svc.cluster.local subset prod",
      "1 available endpoint(s) in outbound|9080|prod|details.default.svc.cluster.local",
    ]);
  });
});

interface ChainRow {
  description: string;
  /** Headers of the request arriving at the ingress gateway. */
  edge: Record<string, string>;
  down?: number[];
  expected: {
    productpage: number;
    reviews: number;
    ratings: number;
    details: number;
    /** Fallback reason per hop, where one happens. */
    fallbacks: Partial<
      Record<"productpage" | "reviews" | "ratings" | "details", "noinstances" | "noavailabled">
    >;
  };
}

const CHAINS: ChainRow[] = [
  {
    description: "gray at the edge: productpage, reviews and ratings gray; details falls back to prod",
    edge: { "x-request-id": "chain-1", trafficlabel: "gray" },
    expected: {
      productpage: PORT.productpageGray,
      reviews: PORT.reviewsGray,
      ratings: PORT.ratingsGray,
      details: PORT.details,
      fallbacks: { details: "noinstances" },
    },
  },
  {
    description:
      "no label: prod everywhere (the edge has no lane, so prod by fallback; prod pods carry on as prod)",
    edge: { "x-request-id": "chain-2" },
    expected: {
      productpage: PORT.productpageProd,
      reviews: PORT.reviewsProd,
      ratings: PORT.ratingsProd,
      details: PORT.details,
      fallbacks: { productpage: "noinstances" },
    },
  },
  {
    description: "gray reviews instance down: reviews falls back to prod, ratings stays gray",
    edge: { "x-request-id": "chain-3", trafficlabel: "gray" },
    down: [PORT.reviewsGray],
    expected: {
      productpage: PORT.productpageGray,
      reviews: PORT.reviewsProd,
      ratings: PORT.ratingsGray,
      details: PORT.details,
      fallbacks: { reviews: "noavailabled", details: "noinstances" },
    },
  },
  {
    description:
      "gray productpage down: the request enters prod productpage but the gray lane goes on downstream",
    edge: { "x-request-id": "chain-4", trafficlabel: "gray" },
    down: [PORT.productpageGray],
    expected: {
      productpage: PORT.productpageProd,
      reviews: PORT.reviewsGray,
      ratings: PORT.ratingsGray,
      details: PORT.details,
      fallbacks: { productpage: "noavailabled", details: "noinstances" },
    },
  },
  {
    description: "an invalid label at the edge is never forwarded: prod everywhere",
    edge: { "x-request-id": "chain-5", trafficlabel: "gray\r\nx: y" },
    expected: {
      productpage: PORT.productpageProd,
      reviews: PORT.reviewsProd,
      ratings: PORT.ratingsProd,
      details: PORT.details,
      fallbacks: { productpage: "noinstances" },
    },
  },
];

describe("ASM walkthrough, full chain: gateway → productpage → reviews → ratings, productpage → details", () => {
  const s = asmWithGateway();

  /** The one available endpoint a decision leads to, and its pod labels. */
  function landed(e: Explanation): { port: number; labels: Record<string, string> } {
    const eps = e.endpoints.filter((p) => p.available);
    expect(eps).toHaveLength(1);
    return { port: eps[0]!.port, labels: eps[0]!.labels };
  }

  it.each(CHAINS.map((r) => [r.description, r] as const))("%s", (_d, row) => {
    const avail = row.down ? down(...row.down) : undefined;
    const rid = { "x-request-id": row.edge["x-request-id"]! };
    const seen: Record<string, number> = {};
    const fallbacks: ChainRow["expected"]["fallbacks"] = {};
    const note = (hop: keyof ChainRow["expected"]["fallbacks"], e: Explanation) => {
      expect(e.action).toBe("route");
      const to = landed(e);
      seen[hop] = to.port;
      if (e.fallback) fallbacks[hop] = e.fallback.reason as "noinstances" | "noavailabled";
      return to;
    };

    // Edge: the gateway resolves the lane on its inbound request and routes /productpage.
    const edge = explain(s, {
      request: "GET http://bookinfo.example.com/productpage",
      headers: row.edge,
      podLabels: POD.gateway,
      context: "default/bookinfo-gateway",
      ...(avail ? { availability: avail } : {}),
    });
    expect(edge.rule).toBe("bookinfo/0");
    const pp = note("productpage", edge);

    // productpage's sidecar: inbound gets the gateway's labels as headers; the app forwards only x-request-id.
    const ppCar = new Sidecar(s, pp.labels);
    ppCar.inbound(forwarded(rid, edge.labels));
    const toReviews = ppCar.outbound("GET http://reviews:9080/reviews/0", rid, avail);
    const toDetails = ppCar.outbound("GET http://details:9080/details/0", rid, avail);
    const rv = note("reviews", toReviews);
    note("details", toDetails);

    // reviews' sidecar: the label arrives as a header, unchanged by any fallback on the way.
    const rvCar = new Sidecar(s, rv.labels);
    rvCar.inbound(forwarded(rid, toReviews.labels));
    note("ratings", rvCar.outbound("GET http://ratings:9080/ratings/0", rid, avail));

    expect(seen).toEqual({
      productpage: row.expected.productpage,
      reviews: row.expected.reviews,
      details: row.expected.details,
      ratings: row.expected.ratings,
    });
    expect(fallbacks).toEqual(row.expected.fallbacks);
  });
});
