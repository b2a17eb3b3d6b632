import { describe, expect, it } from "vitest";
import { loadResources } from "../../src/index.js";
import { errors, ids, load, report, warnings, yaml } from "./helpers.js";

/** reviews with prod and gray subsets, and a ServiceEntry so host warnings stay quiet. */
const REVIEWS = yaml`
  apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews}
  spec:
    host: reviews
    subsets:
    - {name: prod, labels: {ASM_TRAFFIC_TAG: prod}}
    - {name: gray, labels: {ASM_TRAFFIC_TAG: gray}}
  ---
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata: {name: reviews}
  spec: {hosts: [reviews, ratings], ports: [{number: 9080, name: http}]}
`;

const LANES = yaml`
  apiVersion: istio.alibabacloud.com/v1
  kind: TrafficLabel
  metadata: {name: lanes}
  spec:
    rules:
    - labels:
      - {name: x-asm-prefer-tag, valueFrom: [$getInboundRequestHeader(x-asm-prefer-tag), $localLabel]}
`;

/** Config split over files, as `lanecar validate dir/` reads it. */
function files(routes: string, extra: Record<string, string> = { "reviews.yaml": REVIEWS }) {
  return loadResources([
    { file: "routes.yaml", text: routes },
    ...Object.entries(extra).map(([file, text]) => ({ file, text })),
  ]);
}

describe("subset references", () => {
  it("rejects a route to a subset no DestinationRule defines, naming the FQDN", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - {destination: {host: reviews, subset: prod}, weight: 90}
          - {destination: {host: reviews, subset: canary}, weight: 10}
    `;
    expect(errors(files(routes).diagnostics)).toEqual([
      'routes.yaml:9:37 VirtualService/default/reviews: spec.http[0].route[1].destination.subset: subset "canary" is not defined by any DestinationRule for host reviews.default.svc.cluster.local',
    ]);
  });

  it("rejects a subset when the host has no DestinationRule at all", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: ratings}
      spec:
        hosts: [ratings]
        http: [{route: [{destination: {host: ratings, subset: v1}}]}]
    `;
    expect(errors(files(routes).diagnostics)).toEqual([
      'routes.yaml:6:49 VirtualService/default/ratings: spec.http[0].route[0].destination.subset: subset "v1" is not defined by any DestinationRule for host ratings.default.svc.cluster.local',
    ]);
  });

  it("accepts a $label template when a TrafficLabel defines the label (any case)", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http: [{route: [{destination: {host: reviews, subset: $X-ASM-Prefer-Tag}}]}]
    `;
    const r = files(routes, { "reviews.yaml": REVIEWS, "lanes.yaml": LANES });
    expect(r.diagnostics).toEqual([]);
    expect(ids(r)).toContain("VirtualService/default/reviews");
  });

  it("accepts a $label template with only a warning when no TrafficLabel defines the label", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http: [{route: [{destination: {host: reviews, subset: $lane}}]}]
    `;
    const r = files(routes);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toEqual([
      'routes.yaml:6:49 VirtualService/default/reviews: spec.http[0].route[0].destination.subset: warning: no TrafficLabel defines label "lane"; "$lane" never resolves',
    ]);
    expect(ids(r)).toContain("VirtualService/default/reviews");
  });

  it("checks subsets of mirrors and fallback targets too", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: gray}
            fallback:
              case: noinstances
              target: {host: reviews, subset: stable}
          mirror: {host: reviews, subset: shadow}
    `;
    expect(errors(files(routes).diagnostics)).toEqual([
      'routes.yaml:11:33 VirtualService/default/reviews: spec.http[0].route[0].fallback.target.subset: subset "stable" is not defined by any DestinationRule for host reviews.default.svc.cluster.local',
      'routes.yaml:12:29 VirtualService/default/reviews: spec.http[0].mirror.subset: subset "shadow" is not defined by any DestinationRule for host reviews.default.svc.cluster.local',
    ]);
  });
});

describe("fallback chains", () => {
  it("rejects a cycle reviews/prod → reviews/gray → reviews/prod at the target that closes it", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: prod}
            fallback:
              case: noinstances
              target:
                host: reviews
                subset: gray
                fallback:
                  case: noavailabled
                  target: {host: reviews, subset: prod}
    `;
    const h = "reviews.default.svc.cluster.local";
    expect(errors(files(routes).diagnostics)).toEqual([
      `routes.yaml:16:13 VirtualService/default/reviews: spec.http[0].route[0].fallback.target.fallback.target: fallback cycle: ${h}/prod → ${h}/gray → ${h}/prod`,
    ]);
  });

  it("accepts a fallback to the destination itself (prod → prod) with a warning: a cycle needs two targets", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: prod}
            fallback: {case: noinstances, target: {host: reviews.default.svc.cluster.local, subset: prod}}
    `;
    const h = "reviews.default.svc.cluster.local";
    const d = files(routes).diagnostics;
    expect(errors(d)).toEqual([]);
    expect(warnings(d)).toContain(
      `routes.yaml:9:37 VirtualService/default/reviews: spec.http[0].route[0].fallback.target: warning: fallback target ${h}/prod is the destination it falls back from; it never applies`,
    );
  });

  it("accepts a chain gray → prod → another service", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: gray}
            fallback:
              case: noinstances|noavailabled
              target:
                host: reviews
                subset: prod
                fallback: {case: noavailabled, target: {host: ratings}}
    `;
    expect(files(routes).diagnostics).toEqual([]);
  });
});

describe("duplicates and names", () => {
  it("rejects two resources with the same kind/namespace/name, even across files", () => {
    const dr =
      "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec: {host: reviews}\n";
    const r = loadResources([
      { file: "a.yaml", text: dr },
      { file: "b.yaml", text: `# copy\n${dr}` },
      { file: "c.yaml", text: dr.replace("name: reviews", "name: reviews\n  namespace: other") },
    ]);
    expect(errors(r.diagnostics)).toEqual([
      "b.yaml:5:3 DestinationRule/default/reviews: metadata.name: duplicate DestinationRule/default/reviews (first defined in a.yaml)",
    ]);
  });

  it("allows the same name for different kinds", () => {
    const r = files(
      yaml`
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: prod}}]}]}
      `,
    );
    expect(r.diagnostics).toEqual([]);
    expect(ids(r).sort()).toEqual([
      "DestinationRule/default/reviews",
      "ServiceEntry/default/reviews",
      "VirtualService/default/reviews",
    ]);
  });

  it("warns when a second VirtualService claims a host already routed, and when a second DestinationRule applies", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews-a}
      spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews-b}
      spec: {hosts: [reviews.default.svc.cluster.local], http: [{route: [{destination: {host: reviews}}]}]}
      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews-a}
      spec: {host: reviews}
      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews-b}
      spec: {host: reviews.default.svc.cluster.local}
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: reviews}
      spec: {hosts: [reviews], ports: [{number: 9080, name: http}]}
    `;
    expect(report(text)).toEqual([
      "t.yaml:9:16 VirtualService/default/reviews-b: spec.hosts[0]: warning: host reviews.default.svc.cluster.local in mesh is already routed by VirtualService/default/reviews-a; this VirtualService is ignored there",
      "t.yaml:19:8 DestinationRule/default/reviews-b: spec.host: warning: another DestinationRule already applies to reviews.default.svc.cluster.local; this one is ignored",
    ]);
  });
});

describe("short hosts", () => {
  it("expands a short host in the resource's namespace, so FQDN and short names meet", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews, namespace: bookinfo}
      spec:
        host: reviews.bookinfo.svc.cluster.local
        subsets: [{name: v1, labels: {version: v1}}]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http: [{route: [{destination: {host: reviews, subset: v1}}]}]
    `;
    // The VirtualService lives in the default namespace (--namespace bookinfo), so `reviews` is
    // reviews.bookinfo.svc.cluster.local and the DestinationRule's subset applies.
    expect(errors(load(text, { namespace: "bookinfo" }).diagnostics)).toEqual([]);
    // In namespace `default`, `reviews` is another service, which has no DestinationRule.
    expect(errors(load(text).diagnostics)).toEqual([
      't.yaml:13:49 VirtualService/default/reviews: spec.http[0].route[0].destination.subset: subset "v1" is not defined by any DestinationRule for host reviews.default.svc.cluster.local',
    ]);
  });

  it("warns, with the expanded name, about hosts no ServiceEntry defines", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews, namespace: shop}
      spec:
        hosts: [reviews]
        http: [{route: [{destination: {host: reviews}}, {destination: {host: reviews.other}}]}]
    `;
    expect(report(text)).toEqual([
      "t.yaml:6:34 VirtualService/shop/reviews: spec.http[0].route[0].destination.host: warning: no ServiceEntry defines host reviews.shop.svc.cluster.local; requests to it get 503 UH",
      "t.yaml:6:66 VirtualService/shop/reviews: spec.http[0].route[1].destination.host: warning: no ServiceEntry defines host reviews.other; requests to it get 503 UH",
    ]);
  });

  it("does not run cross-resource checks on a resource that failed its own checks", () => {
    const routes = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route: [{destination: {host: reviews, subset: canary}}]
          timeout: soon
    `;
    expect(errors(files(routes).diagnostics)).toEqual([
      'routes.yaml:8:5 VirtualService/default/reviews: spec.http[0].timeout: "soon" is not a duration (use e.g. "500ms", "10s", "1m")',
    ]);
  });
});
