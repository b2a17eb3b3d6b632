/** The routing decision: host forms, default routes, weights, `$label` templates and fallback chains. */
import { describe, expect, it } from "vitest";
import { ALL_AVAILABLE, availabilityExcept, pickWeighted } from "../../src/index.js";
import { destinationRule, ports, route, seeded, sequence, serviceEntry, snap } from "./support.js";

const REVIEWS = serviceEntry("reviews", [
  { port: 19001, labels: { version: "v1", ASM_TRAFFIC_TAG: "prod" } },
  { port: 19002, labels: { version: "v2", ASM_TRAFFIC_TAG: "gray" } },
  { port: 19003, labels: { version: "v3" } },
]);
const REVIEWS_DR = destinationRule("reviews", {
  v1: { version: "v1" },
  v2: { version: "v2" },
  v3: { version: "v3" },
  prod: { version: "v1" },
});

const vs = (name: string, http: string, hosts = `[${name}]`) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: ${hosts}
  http:
${http}`;

describe("hosts", () => {
  const s = snap([
    REVIEWS,
    REVIEWS_DR,
    serviceEntry("details", [{ port: 19020 }]),
    serviceEntry("ratings", [{ port: 19030 }], "other"),
    vs("reviews", "  - route: [{destination: {host: reviews, subset: v2}}]\n"),
  ]);

  it.each([
    "reviews",
    "reviews:9080",
    "REVIEWS:9080",
    "reviews.default",
    "reviews.default:9080",
    "reviews.default.svc",
    "reviews.default.svc:9080",
    "reviews.default.svc.cluster.local",
    "reviews.default.svc.cluster.local:9080",
    "reviews.default.svc.cluster.local.:9080",
  ])("%s reaches the reviews VirtualService", (authority) => {
    const d = route(s, `GET http://${authority}/r`);
    expect(d.host).toBe("reviews.default.svc.cluster.local");
    expect(d.rule).toBe("reviews/0");
    expect(d.destination).toEqual({ host: "reviews.default.svc.cluster.local", subset: "v2" });
    expect(ports(d)).toEqual([19002]);
  });

  it("a short host means the caller's namespace", () => {
    expect(route(s, "GET http://reviews/", { namespace: "other" }).kind).toBe("noroute");
    expect(route(s, "GET http://ratings/", { namespace: "other" }).host).toBe(
      "ratings.other.svc.cluster.local",
    );
    expect(route(s, "GET http://ratings.other/").host).toBe("ratings.other.svc.cluster.local");
    expect(route(s, "GET http://reviews.default/", { namespace: "other" }).rule).toBe("reviews/0");
  });

  it("a known host without VirtualService routes to all its endpoints", () => {
    const d = route(s, "GET http://details:9080/details/0");
    expect(d).toMatchObject({
      kind: "route",
      rule: null,
      healthy: true,
      flag: "",
      fallback: null,
      matchIndex: -1,
    });
    expect(d.destination).toEqual({ host: "details.default.svc.cluster.local", subset: undefined });
    expect(ports(d)).toEqual([19020]);
    const r = route(s, "GET http://reviews.default.svc.cluster.local/", { namespace: "other" });
    expect(r.rule).toBe("reviews/0");
  });

  it("a known host without VirtualService and without available endpoint is UH", () => {
    const d = route(s, "GET http://details/", { avail: availabilityExcept(["127.0.0.1:19020"]) });
    expect(d).toMatchObject({ kind: "route", healthy: false, flag: "UH" });
  });

  it("an unknown host is NR", () => {
    for (const h of ["nowhere", "nowhere:9080", "nowhere.default.svc.cluster.local", "api.example.com"]) {
      const d = route(s, `GET http://${h}/`);
      expect(d).toMatchObject({
        kind: "noroute",
        flag: "NR",
        rule: null,
        cluster: undefined,
        healthy: false,
      });
    }
    expect(route(s, "GET http://nowhere/").host).toBe("nowhere.default.svc.cluster.local");
  });

  it("a port the service does not declare finds no cluster without a VirtualService", () => {
    const two = snap(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: two}
spec:
  hosts: [two]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http}, {number: 8080, name: admin}]
  endpoints: [{address: 10.0.0.1}]
`,
    );
    expect(ports(route(two, "GET http://two:80/"))).toEqual([80]);
    expect(ports(route(two, "GET http://two:8080/"))).toEqual([8080]);
    expect(route(two, "GET http://two:9999/").kind).toBe("noroute");
  });
});

describe("weights", () => {
  const s = snap([
    REVIEWS,
    REVIEWS_DR,
    vs(
      "reviews",
      `  - route:
    - {destination: {host: reviews, subset: v1}, weight: 1}
    - {destination: {host: reviews, subset: v2}, weight: 0}
    - {destination: {host: reviews, subset: v3}, weight: 3}
`,
    ),
  ]);
  const subsetAt = (x: number) => route(s, "GET http://reviews/", { rand: () => x }).destination?.subset;

  it("cuts [0, 1) by relative weight with an injectable rand", () => {
    expect(subsetAt(0)).toBe("v1");
    expect(subsetAt(0.2499)).toBe("v1");
    expect(subsetAt(0.25)).toBe("v3");
    expect(subsetAt(0.9999999)).toBe("v3");
  });

  it("never chooses a zero-weight destination", () => {
    const rand = seeded(7);
    for (let i = 0; i < 2000; i++)
      expect(route(s, "GET http://reviews/", { rand }).destination?.subset).not.toBe("v2");
  });

  it("follows the weights over many draws (seeded)", () => {
    const rand = seeded(42);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const sub = route(s, "GET http://reviews/", { rand }).destination!.subset!;
      counts[sub] = (counts[sub] ?? 0) + 1;
    }
    expect(counts.v1! / 4000).toBeCloseTo(0.25, 1);
    expect(counts.v3! / 4000).toBeCloseTo(0.75, 1);
  });

  it("a single destination takes all traffic without drawing", () => {
    const one = snap([
      REVIEWS,
      REVIEWS_DR,
      vs("reviews", "  - route: [{destination: {host: reviews, subset: v1}, weight: 30}]\n"),
    ]);
    const d = route(one, "GET http://reviews/", {
      rand: () => {
        throw new Error("rand must not be called");
      },
    });
    expect(d.destination?.subset).toBe("v1");
    expect(pickWeighted(d.route!, Math.random)?.subset).toBe("v1");
  });

  it("unset weights among several destinations split evenly", () => {
    const even = snap([
      REVIEWS,
      REVIEWS_DR,
      vs(
        "reviews",
        "  - route: [{destination: {host: reviews, subset: v1}}, {destination: {host: reviews, subset: v2}}]\n",
      ),
    ]);
    expect(route(even, "GET http://reviews/", { rand: sequence(0.49) }).destination?.subset).toBe("v1");
    expect(route(even, "GET http://reviews/", { rand: sequence(0.5) }).destination?.subset).toBe("v2");
  });
});

const TL = `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules: [{labels: [{name: lane, valueFrom: ["$getContext(x-request-id)", "$(localLabel)"]}]}]
`;

describe("$label subsets", () => {
  const s = snap([
    TL,
    REVIEWS,
    REVIEWS_DR,
    vs("reviews", "  - route: [{destination: {host: reviews, subset: $lane}}]\n"),
  ]);

  it("takes the subset name from the label", () => {
    const d = route(s, "GET http://reviews/", { labels: { lane: "v3" } });
    expect(d).toMatchObject({ healthy: true, flag: "", fallback: null });
    expect(d.destination).toEqual({ host: "reviews.default.svc.cluster.local", subset: "v3" });
    expect(ports(d)).toEqual([19003]);
    expect(d.cluster?.name).toBe("outbound|9080|v3|reviews.default.svc.cluster.local");
  });

  it("an unresolved label selects nothing: 503 UH without fallback", () => {
    const d = route(s, "GET http://reviews/", { labels: {} });
    expect(d).toMatchObject({ kind: "route", healthy: false, flag: "UH", fallback: null });
    expect(d.destination).toEqual({ host: "reviews.default.svc.cluster.local", subset: "$lane" });
    expect(d.cluster?.endpoints).toEqual([]);
  });

  it("an unknown lane value selects nothing", () => {
    for (const lane of ["blue", "V1", "v1 ", "", "x".repeat(100)]) {
      const d = route(s, "GET http://reviews/", { labels: { lane } });
      expect(d).toMatchObject({ healthy: false, flag: "UH" });
      expect(d.cluster?.endpoints.length ?? 0).toBe(0);
    }
  });

  it("unknown lane values share one empty cluster, so client-chosen values cannot grow memory", () => {
    const a = route(s, "GET http://reviews/", { labels: { lane: "unknown-1" } }).cluster;
    const b = route(s, "GET http://reviews/", { labels: { lane: "unknown-2" } }).cluster;
    expect(a).toBeDefined();
    expect(a).toBe(b);
  });

  it("implicit lanes: a value that is an endpoint's ASM_TRAFFIC_TAG selects those endpoints when the DR has no such subset", () => {
    const gray = route(s, "GET http://reviews/", { labels: { lane: "gray" } });
    expect(gray).toMatchObject({ healthy: true, fallback: null });
    expect(ports(gray)).toEqual([19002]);
    // A DestinationRule subset of the same name as a tag wins over the tag (here both are v1).
    expect(ports(route(s, "GET http://reviews/", { labels: { lane: "prod" } }))).toEqual([19001]);
  });

  it("a DestinationRule subset wins over an ASM_TRAFFIC_TAG of the same name", () => {
    const s2 = snap([
      TL,
      REVIEWS,
      destinationRule("reviews", { gray: { version: "v3" } }),
      vs("reviews", "  - route: [{destination: {host: reviews, subset: $lane}}]\n"),
    ]);
    expect(ports(route(s2, "GET http://reviews/", { labels: { lane: "gray" } }))).toEqual([19003]);
    // Without a DR subset named prod, the tag decides.
    expect(ports(route(s2, "GET http://reviews/", { labels: { lane: "prod" } }))).toEqual([19001]);
  });

  it("label names are case-insensitive: `$Lane` reads label `lane`", () => {
    const s2 = snap([
      TL,
      REVIEWS,
      REVIEWS_DR,
      vs("reviews", "  - route: [{destination: {host: reviews, subset: $Lane}}]\n"),
    ]);
    expect(ports(route(s2, "GET http://reviews/", { labels: { lane: "v2" } }))).toEqual([19002]);
  });
});

/** reviews: `$lane` with a fallback `case` to `target` (YAML flow). */
const fallbackVs = (fallback: string) =>
  vs(
    "reviews",
    `  - route:\n    - destination: {host: reviews, subset: $lane}\n      fallback: ${fallback}\n`,
  );

describe("fallback", () => {
  const s = snap([
    TL,
    REVIEWS,
    REVIEWS_DR,
    fallbackVs("{case: noinstances|noavailabled, target: {host: reviews, subset: prod}}"),
  ]);
  const REVIEWS_FQDN = "reviews.default.svc.cluster.local";

  it("a lane with healthy instances is used, no fallback", () => {
    const d = route(s, "GET http://reviews/", { labels: { lane: "gray" } });
    expect(d).toMatchObject({ healthy: true, fallback: null, flag: "" });
    expect(ports(d)).toEqual([19002]);
  });

  it("noinstances: the lane has no endpoint", () => {
    const d = route(s, "GET http://reviews/", { labels: { lane: "blue" } });
    expect(d).toMatchObject({ healthy: true, flag: "" });
    expect(d.fallback).toEqual({
      reason: "noinstances",
      from: { host: REVIEWS_FQDN, subset: "blue" },
      to: { host: REVIEWS_FQDN, subset: "prod" },
      hops: 1,
    });
    expect(d.destination).toEqual({ host: REVIEWS_FQDN, subset: "blue" });
    expect(d.cluster?.subset).toBe("prod");
    expect(ports(d)).toEqual([19001]);
  });

  it("noinstances: an unresolved label", () => {
    const d = route(s, "GET http://reviews/", { labels: {} });
    expect(d.fallback).toMatchObject({
      reason: "noinstances",
      from: { subset: "$lane" },
      to: { subset: "prod" },
    });
    expect(ports(d)).toEqual([19001]);
  });

  it("noavailabled: the lane has endpoints but none is available", () => {
    const avail = availabilityExcept(["127.0.0.1:19002"]);
    const d = route(s, "GET http://reviews/", { labels: { lane: "gray" }, avail });
    expect(d).toMatchObject({ healthy: true, flag: "" });
    expect(d.fallback).toMatchObject({
      reason: "noavailabled",
      from: { subset: "gray" },
      to: { subset: "prod" },
      hops: 1,
    });
    expect(ports(d, avail)).toEqual([19001]);
  });

  it("the label a request carries is not changed by a fallback", () => {
    const labels = Object.freeze({ lane: "blue" });
    route(s, "GET http://reviews/", { labels });
    expect(labels).toEqual({ lane: "blue" });
  });

  it.each([
    ["noinstances", "blue", ALL_AVAILABLE, true],
    ["noinstances", "gray", availabilityExcept(["127.0.0.1:19002"]), false],
    ["noavailabled", "blue", ALL_AVAILABLE, false],
    ["noavailabled", "gray", availabilityExcept(["127.0.0.1:19002"]), true],
  ])("case %s only: lane %s falls back = %s", (kase, lane, avail, falls) => {
    const one = snap([
      TL,
      REVIEWS,
      REVIEWS_DR,
      fallbackVs(`{case: ${kase}, target: {host: reviews, subset: prod}}`),
    ]);
    const d = route(one, "GET http://reviews/", { labels: { lane }, avail });
    if (falls) {
      expect(d).toMatchObject({ healthy: true, flag: "", fallback: { reason: kase } });
    } else {
      expect(d).toMatchObject({ healthy: false, flag: "UH", fallback: null });
      expect(d.cluster?.subset).not.toBe("prod");
    }
  });

  it("without fallback, the request stays in its lane: 503 UH", () => {
    const none = snap([
      TL,
      REVIEWS,
      REVIEWS_DR,
      vs("reviews", "  - route: [{destination: {host: reviews, subset: $lane}}]\n"),
    ]);
    const d = route(none, "GET http://reviews/", {
      labels: { lane: "gray" },
      avail: availabilityExcept(["127.0.0.1:19002"]),
    });
    expect(d).toMatchObject({ healthy: false, flag: "UH", fallback: null });
    expect(d.cluster?.subset).toBe("gray");
  });

  describe("chains", () => {
    const chain = snap([
      TL,
      REVIEWS,
      REVIEWS_DR,
      fallbackVs(
        "{case: noinstances|noavailabled, target: {host: reviews, subset: v3, fallback: {case: noavailabled, target: {host: reviews, subset: prod, fallback: {case: noavailabled, target: {host: reviews}}}}}}",
      ),
    ]);
    const down = (...p: number[]) => availabilityExcept(p.map((n) => `127.0.0.1:${n}`));

    it("stops at the first target with an available endpoint", () => {
      const d = route(chain, "GET http://reviews/", { labels: { lane: "blue" } });
      expect(d.fallback).toMatchObject({ reason: "noinstances", to: { subset: "v3" }, hops: 1 });
      expect(ports(d)).toEqual([19003]);
    });

    it("walks 2 and 3 targets; the reason is the first hop's", () => {
      const two = route(chain, "GET http://reviews/", { labels: { lane: "blue" }, avail: down(19003) });
      expect(two.fallback).toMatchObject({ reason: "noinstances", to: { subset: "prod" }, hops: 2 });
      expect(ports(two, down(19003))).toEqual([19001]);
      const three = route(chain, "GET http://reviews/", {
        labels: { lane: "blue" },
        avail: down(19003, 19001),
      });
      expect(three.fallback).toMatchObject({
        to: { host: "reviews.default.svc.cluster.local", subset: undefined },
        hops: 3,
      });
      expect(three).toMatchObject({ healthy: true, flag: "" });
      expect(ports(three, down(19003, 19001))).toEqual([19002]);
    });

    it("each link's own case decides whether to go on", () => {
      // v3 has no instance at all in this snapshot, the second link only covers noavailabled.
      const noV3 = snap([
        TL,
        serviceEntry("reviews", [
          { port: 19001, labels: { version: "v1" } },
          { port: 19002, labels: { version: "v2" } },
        ]),
        REVIEWS_DR,
        fallbackVs(
          "{case: noinstances, target: {host: reviews, subset: v3, fallback: {case: noavailabled, target: {host: reviews, subset: prod}}}}",
        ),
      ]);
      const d = route(noV3, "GET http://reviews/", { labels: { lane: "blue" } });
      expect(d).toMatchObject({
        healthy: false,
        flag: "UH",
        fallback: { reason: "noinstances", to: { subset: "v3" }, hops: 1 },
      });
    });

    it("when every target is empty or down: 503 UH, with the fallback walked", () => {
      const d = route(chain, "GET http://reviews/", {
        labels: { lane: "blue" },
        avail: down(19001, 19002, 19003),
      });
      expect(d).toMatchObject({
        kind: "route",
        healthy: false,
        flag: "UH",
        fallback: { reason: "noinstances", hops: 3 },
      });
    });
  });

  it("a fallback target that is itself empty is 503 UH", () => {
    const empty = snap([
      TL,
      REVIEWS,
      REVIEWS_DR,
      serviceEntry("backup", []),
      fallbackVs("{case: noinstances, target: {host: backup}}"),
    ]);
    const d = route(empty, "GET http://reviews/", { labels: { lane: "blue" } });
    expect(d).toMatchObject({ kind: "route", healthy: false, flag: "UH" });
    expect(d.fallback).toMatchObject({
      reason: "noinstances",
      to: { host: "backup.default.svc.cluster.local" },
      hops: 1,
    });
  });

  it("a fallback target may be another service and its own `$label`", () => {
    const other = snap([
      TL,
      REVIEWS,
      REVIEWS_DR,
      serviceEntry("reviews-backup", [
        { port: 19051, labels: { ASM_TRAFFIC_TAG: "gray" } },
        { port: 19052, labels: { ASM_TRAFFIC_TAG: "prod" } },
      ]),
      vs(
        "reviews",
        "  - route:\n    - destination: {host: reviews, subset: v1}\n      fallback: {case: noavailabled, target: {host: reviews-backup, subset: $lane}}\n",
      ),
    ]);
    const avail = availabilityExcept(["127.0.0.1:19001"]);
    const d = route(other, "GET http://reviews/", { labels: { lane: "gray" }, avail });
    expect(d.fallback).toMatchObject({
      reason: "noavailabled",
      to: { host: "reviews-backup.default.svc.cluster.local", subset: "gray" },
    });
    expect(ports(d, avail)).toEqual([19051]);
    // Unresolved, the target's `$lane` selects nothing, and says so (not "every instance").
    const unresolved = route(other, "GET http://reviews/", { labels: {}, avail });
    expect(unresolved).toMatchObject({ healthy: false, flag: "UH" });
    expect(unresolved.fallback?.to).toEqual({
      host: "reviews-backup.default.svc.cluster.local",
      subset: "$lane",
    });
    expect(unresolved.cluster?.endpoints).toEqual([]);
  });
});

describe("other actions", () => {
  const s = snap([
    REVIEWS,
    REVIEWS_DR,
    vs(
      "reviews",
      `  - name: moved
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, redirectCode: 302}
  - name: teapot
    match: [{uri: {exact: /tea}}]
    directResponse: {status: 418, body: {string: short and stout}}
  - name: main
    route: [{destination: {host: reviews, subset: v1}, headers: {request: {set: {x-d: "1"}}}}]
    mirror: {host: reviews, subset: v3}
    mirrorPercentage: {value: 25}
`,
    ),
  ]);

  it("redirect and directResponse are decided without a destination", () => {
    expect(route(s, "GET http://reviews/old/x")).toMatchObject({
      kind: "redirect",
      rule: "reviews/moved",
      cluster: undefined,
      flag: "",
    });
    const t = route(s, "GET http://reviews/tea");
    expect(t).toMatchObject({ kind: "direct", rule: "reviews/teapot" });
    expect(t.route?.spec.directResponse).toEqual({ status: 418, body: "short and stout" });
  });

  it("a route carries its destination headers and mirrors", () => {
    const d = route(s, "GET http://reviews/");
    expect(d.destinationHeaders?.request?.set).toEqual([["x-d", "1"]]);
    expect(d.route?.mirrors).toHaveLength(1);
    const m = d.route!.mirrors[0]!;
    expect(m.percentage).toBe(25);
    const c = s.router().clusterFor(m.target, 9080, {});
    expect(c?.endpoints.map((e) => e.port)).toEqual([19003]);
  });

  it("clusterFor: an unresolved `$label` mirror target has no cluster", () => {
    const t = {
      host: "reviews.default.svc.cluster.local",
      subset: undefined,
      template: "lane",
      port: undefined,
    };
    expect(s.router().clusterFor(t, 9080, {})).toBeUndefined();
    expect(
      s
        .router()
        .clusterFor(t, 9080, { lane: "v2" })
        ?.endpoints.map((e) => e.port),
    ).toEqual([19002]);
  });

  it("retries default to Istio's policy when a route sets none", () => {
    expect(route(s, "GET http://reviews/").route?.retries).toMatchObject({ attempts: 2 });
  });
});
