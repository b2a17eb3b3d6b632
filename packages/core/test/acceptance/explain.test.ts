/** explain(): "why did this request go there", the contract behind `lanecar explain --json` (SPEC 7). */
import { describe, expect, it } from "vitest";
import {
  availabilityExcept,
  type CorrelationLookup,
  ExplainInputError,
  explain,
  headerGetter,
  parseRequestLine,
} from "../../src/index.js";
import { destinationRule, serviceEntry, snap } from "../route/support.js";

const TL = `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules: [{labels: [{name: x-lane, valueFrom: ["$getInboundRequestHeader(x-lane)", "$getContext(x-request-id)", "$(localLabel)"]}]}]
`;

const s = snap([
  TL,
  serviceEntry("reviews", [
    { port: 19001, labels: { version: "v1", ASM_TRAFFIC_TAG: "prod" } },
    { port: 19002, labels: { version: "v2", ASM_TRAFFIC_TAG: "gray" } },
  ]),
  destinationRule("reviews", { prod: { version: "v1" } }),
  serviceEntry("details", [{ port: 19020 }]),
  `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: moved
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, redirectCode: 302}
  - name: gone
    match: [{uri: {prefix: /gone}}]
    directResponse: {status: 410}
  - name: lanes
    route:
    - destination: {host: reviews, subset: $x-lane}
      fallback: {case: noinstances, target: {host: reviews, subset: prod}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http: [{route: [{destination: {host: reviews, subset: $x-lane}}]}]
`,
]);

describe("parseRequestLine", () => {
  const h = headerGetter({ host: "reviews:9080" });

  it("reads METHOD URL, a bare URL (GET), absolute and origin forms", () => {
    expect(parseRequestLine("GET http://reviews:9080/reviews/0?x=1", h)).toMatchObject({
      method: "GET",
      path: "/reviews/0?x=1",
      authority: "reviews:9080",
      scheme: "http",
      port: 9080,
    });
    expect(parseRequestLine("reviews/x", h)).toMatchObject({
      method: "GET",
      authority: "reviews",
      path: "/x",
      port: 80,
    });
    expect(parseRequestLine("delete https://api.example.com/", h)).toMatchObject({
      method: "DELETE",
      scheme: "https",
      port: 443,
    });
    expect(parseRequestLine("POST /r/1", h)).toMatchObject({
      method: "POST",
      authority: "reviews:9080",
      path: "/r/1",
      port: 9080,
    });
  });

  it("rejects what it cannot read, with a stable error code", () => {
    expect(() => parseRequestLine("GET /x", headerGetter({}))).toThrow(/needs a Host header/);
    expect(() => parseRequestLine("G3T http://reviews/", h)).toThrow(ExplainInputError);
    expect(() => parseRequestLine("GET http://[bad/", h)).toThrow(/is not a URL/);
    try {
      parseRequestLine("GET /x", headerGetter({}));
    } catch (e) {
      expect((e as ExplainInputError).code).toBe("LANECAR_EXPLAIN_INPUT");
    }
  });
});

describe("explain", () => {
  it("has the SPEC 7 fields for a routed request", () => {
    const e = explain(s, {
      request: "GET http://reviews:9080/reviews/0",
      podLabels: { ASM_TRAFFIC_TAG: "gray" },
    });
    expect(e).toMatchObject({
      host: "reviews.default.svc.cluster.local",
      rule: "reviews/lanes",
      labels: { "x-lane": "gray" },
      destination: { host: "reviews.default.svc.cluster.local", subset: "gray" },
      fallback: null,
      endpoints: [
        {
          address: "127.0.0.1",
          port: 19002,
          labels: { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" },
          available: true,
        },
      ],
      action: "route",
      status: null,
      flag: null,
    });
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });

  it("as an outbound call, inbound-only functions do not apply; the pod's lane does", () => {
    const e = explain(s, {
      request: "GET http://reviews:9080/",
      headers: { "x-lane": "gray" },
      podLabels: { ASM_TRAFFIC_TAG: "prod" },
    });
    expect(e.labels).toEqual({ "x-lane": "prod" });
    expect(e.reasons[0]).toBe("label x-lane=prod from $(localLabel) (TrafficLabel/default/lanes)");
  });

  it("at a gateway, the request is inbound: the header applies", () => {
    const e = explain(s, {
      request: "GET http://shop.example.com/",
      headers: { "x-lane": "gray" },
      context: "default/edge",
    });
    expect(e).toMatchObject({
      rule: "edge/0",
      labels: { "x-lane": "gray" },
      destination: { subset: "gray" },
    });
    expect(e.reasons[0]).toBe(
      "label x-lane=gray from $getInboundRequestHeader(x-lane) (TrafficLabel/default/lanes)",
    );
  });

  it("uses the correlation lookup it is given", () => {
    const lookup: CorrelationLookup = (ctx, key) =>
      ctx === "x-request-id" && key === "r1" ? { headers: {}, labels: { "x-lane": "gray" } } : undefined;
    const e = explain(s, {
      request: "GET http://reviews/",
      headers: { "x-request-id": "r1" },
      correlation: lookup,
    });
    expect(e.labels).toEqual({ "x-lane": "gray" });
  });

  it("explains a fallback and the unresolved label", () => {
    const e = explain(s, { request: "GET http://reviews/" });
    expect(e.labels).toEqual({});
    expect(e.fallback).toEqual({
      reason: "noinstances",
      from: { host: "reviews.default.svc.cluster.local", subset: "$x-lane" },
      to: { host: "reviews.default.svc.cluster.local", subset: "prod" },
    });
    expect(e.endpoints.map((p) => p.port)).toEqual([19001]);
    expect(e.reasons).toEqual([
      "label x-lane: no valueFrom source gave a valid value ($getInboundRequestHeader(x-lane), $getContext(x-request-id), $(localLabel))",
      "matched rule reviews/lanes",
      "destination reviews.default.svc.cluster.local subset $x-lane",
      "fallback (noinstances): reviews.default.svc.cluster.local subset $x-lane → reviews.default.svc.cluster.local subset prod",
      "1 available endpoint(s) in outbound|9080|prod|reviews.default.svc.cluster.local",
    ]);
  });

  it("reports invalid label values it ignored", () => {
    const e = explain(s, { request: "GET http://reviews/", podLabels: { ASM_TRAFFIC_TAG: "bad value" } });
    expect(e.reasons).toContain("1 invalid label value(s) ignored");
  });

  it("503 UH when nothing is available, marking each endpoint", () => {
    const e = explain(s, {
      request: "GET http://reviews/",
      podLabels: { ASM_TRAFFIC_TAG: "gray" },
      availability: availabilityExcept(["127.0.0.1:19002"]),
    });
    expect(e).toMatchObject({ action: "route", status: 503, flag: "UH", fallback: null });
    expect(e.endpoints).toEqual([expect.objectContaining({ port: 19002, available: false })]);
    expect(e.reasons.at(-1)).toBe("no available endpoint: 503 UH");
    const none = explain(s, {
      request: "GET http://reviews/",
      podLabels: { ASM_TRAFFIC_TAG: "gray" },
      context: "default/edge",
      headers: { "x-lane": "blue" },
    });
    expect(none).toMatchObject({ status: 503, flag: "UH", endpoints: [] });
    expect(none.reasons.at(-1)).toBe("no instance and no fallback for it: 503 UH");
  });

  it("a service without VirtualService: all its endpoints", () => {
    const e = explain(s, { request: "GET http://details:9080/" });
    expect(e).toMatchObject({
      rule: null,
      destination: { host: "details.default.svc.cluster.local" },
      status: null,
    });
    expect(e.reasons).toContain("no VirtualService for details.default.svc.cluster.local: all its endpoints");
  });

  it("404 NR for an unknown host", () => {
    const e = explain(s, { request: "GET http://nowhere/" });
    expect(e).toMatchObject({
      action: "noroute",
      status: 404,
      flag: "NR",
      rule: null,
      destination: null,
      endpoints: [],
    });
    expect(e.reasons.at(-1)).toBe(
      "no VirtualService rule or service matches host nowhere.default.svc.cluster.local",
    );
  });

  it("redirect and direct response statuses", () => {
    expect(explain(s, { request: "GET http://reviews/old/x" })).toMatchObject({
      action: "redirect",
      status: 302,
      rule: "reviews/moved",
    });
    expect(explain(s, { request: "GET http://reviews/gone" })).toMatchObject({
      action: "direct",
      status: 410,
      rule: "reviews/gone",
    });
  });
});
