/** Every match kind of SPEC section 5, through the whole path: YAML → validation → route table → router. */
import { describe, expect, it } from "vitest";
import { destinationRule, route, serviceEntry, snap } from "./support.js";

const BASE = [
  serviceEntry("reviews", [
    { port: 19001, labels: { version: "v1" } },
    { port: 19002, labels: { version: "v2" } },
  ]),
  destinationRule("reviews", { v1: { version: "v1" }, v2: { version: "v2" } }),
];

/** A VirtualService for reviews: each rule `{name, match}` goes to v2, then a catch-all `default` to v1. */
function withRules(rules: { name: string; match: string }[], extra: string[] = [], vsExtra = "") {
  const http = rules
    .map(
      (r) =>
        `  - name: ${r.name}\n    match: ${r.match}\n    route: [{destination: {host: reviews, subset: v2}}]`,
    )
    .join("\n");
  return snap([
    ...BASE,
    ...extra,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
${vsExtra}  http:
${http}
  - name: default
    route: [{destination: {host: reviews, subset: v1}}]
`,
  ]);
}

const ruleOf = (s: ReturnType<typeof snap>, line: string, o: Parameters<typeof route>[2] = {}) =>
  route(s, line, o).rule;

describe("uri", () => {
  const s = withRules([
    { name: "exact", match: "[{uri: {exact: /reviews/exact}}]" },
    { name: "prefix", match: "[{uri: {prefix: /static}}]" },
    { name: "regex", match: "[{uri: {regex: '/reviews/[0-9]+'}}]" },
    { name: "nocase", match: "[{uri: {exact: /Login}, ignoreUriCase: true}]" },
    { name: "nocase-prefix", match: "[{uri: {prefix: /API/}, ignoreUriCase: true}]" },
  ]);
  it.each([
    ["/reviews/exact", "exact"],
    ["/reviews/exact?x=1", "exact"],
    ["/reviews/exact/", "default"],
    ["/Reviews/exact", "default"],
    ["/static", "prefix"],
    ["/static/app.js", "prefix"],
    ["/stati", "default"],
    ["/reviews/42", "regex"],
    ["/reviews/42?page=1", "regex"],
    ["/reviews/42/more", "default"],
    ["/x/reviews/42", "default"],
    ["/login", "nocase"],
    ["/LOGIN", "nocase"],
    ["/logins", "default"],
    ["/api/v1", "nocase-prefix"],
    ["/Api/v1", "nocase-prefix"],
  ])("%s → %s", (path, rule) => {
    expect(ruleOf(s, `GET http://reviews:9080${path}`)).toBe(`reviews/${rule}`);
  });

  it("reports the matched prefix block for rewrite", () => {
    const d = route(s, "GET http://reviews:9080/static/x");
    expect(d.route?.matches[d.matchIndex]?.uriPrefix).toBe("/static");
    expect(route(s, "GET http://reviews:9080/reviews/exact").route?.matches[0]?.uriPrefix).toBeUndefined();
  });
});

describe("headers", () => {
  const s = withRules([
    { name: "jason", match: "[{headers: {End-User: {exact: jason}}}]" },
    { name: "beta", match: "[{headers: {x-version: {prefix: beta-}}}]" },
    { name: "re", match: "[{headers: {x-tier: {regex: 'gold|silver'}}}]" },
    { name: "present", match: "[{headers: {x-debug: {}}}]" },
  ]);
  it.each<[Record<string, string>, string]>([
    [{ "end-user": "jason" }, "jason"],
    [{ "end-user": "Jason" }, "default"],
    [{ "end-user": "jason2" }, "default"],
    [{ "x-version": "beta-3" }, "beta"],
    [{ "x-version": "alpha-3" }, "default"],
    [{ "x-tier": "gold" }, "re"],
    [{ "x-tier": "golden" }, "default"],
    [{ "x-debug": "" }, "present"],
    [{ "x-debug": "anything" }, "present"],
    [{}, "default"],
  ])("%j → %s", (headers, rule) => {
    expect(ruleOf(s, "GET http://reviews:9080/", { headers })).toBe(`reviews/${rule}`);
  });
});

describe("withoutHeaders", () => {
  const s = withRules([{ name: "not-canary", match: "[{withoutHeaders: {x-canary: {exact: 'true'}}}]" }]);
  const s2 = withRules([{ name: "no-debug", match: "[{withoutHeaders: {x-debug: {}}}]" }]);
  it("matches when the header is absent or does not match", () => {
    expect(ruleOf(s, "GET http://reviews/", {})).toBe("reviews/not-canary");
    expect(ruleOf(s, "GET http://reviews/", { headers: { "x-canary": "false" } })).toBe("reviews/not-canary");
    expect(ruleOf(s, "GET http://reviews/", { headers: { "x-canary": "true" } })).toBe("reviews/default");
  });
  it("with presence {}: matches only when the header is absent", () => {
    expect(ruleOf(s2, "GET http://reviews/")).toBe("reviews/no-debug");
    expect(ruleOf(s2, "GET http://reviews/", { headers: { "x-debug": "" } })).toBe("reviews/default");
  });
});

describe("queryParams", () => {
  const s = withRules([
    { name: "exact", match: "[{queryParams: {user: {exact: jason}}}]" },
    { name: "re", match: "[{queryParams: {page: {regex: '[0-9]+'}}}]" },
    { name: "present", match: "[{queryParams: {debug: {}}}]" },
  ]);
  it.each([
    ["/?user=jason", "exact"],
    ["/x?a=1&user=jason&b=2", "exact"],
    ["/?user=jason2", "default"],
    ["/?User=jason", "default"],
    ["/user=jason", "default"],
    ["/?page=12", "re"],
    ["/?page=12a", "default"],
    ["/?debug", "present"],
    ["/?debug=", "present"],
    ["/?nodebug=1", "default"],
  ])("%s → %s", (path, rule) => {
    expect(ruleOf(s, `GET http://reviews:9080${path}`)).toBe(`reviews/${rule}`);
  });
});

describe("authority, method, scheme, port", () => {
  const s = snap([
    ...BASE,
    serviceEntry("ratings", [{ port: 19010 }]),
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews, reviews.example.com]
  http:
  - {name: authority, match: [{authority: {prefix: reviews.example.com}}], route: [{destination: {host: reviews, subset: v2}}]}
  - {name: post, match: [{method: {exact: POST}}], route: [{destination: {host: reviews, subset: v2}}]}
  - {name: https, match: [{scheme: {exact: https}}], route: [{destination: {host: reviews, subset: v2}}]}
  - {name: port, match: [{port: 9443}], route: [{destination: {host: reviews, subset: v2}}]}
  - {name: default, route: [{destination: {host: reviews, subset: v1}}]}
`,
  ]);
  it.each([
    ["GET http://reviews.example.com/", "authority"],
    ["GET http://reviews.example.com:8080/", "authority"],
    ["GET http://reviews:9080/", "default"],
    ["POST http://reviews:9080/", "post"],
    ["post http://reviews:9080/", "post"],
    ["PUT http://reviews:9080/", "default"],
    ["GET https://reviews/", "https"],
    ["GET http://reviews:9443/", "port"],
    ["GET http://reviews:9444/", "default"],
  ])("%s → %s", (line, rule) => {
    expect(ruleOf(s, line)).toBe(`reviews/${rule}`);
  });
});

describe("sourceLabels and sourceNamespace", () => {
  const s = withRules([
    { name: "from-productpage-v2", match: "[{sourceLabels: {app: productpage, version: v2}}]" },
    { name: "from-test-ns", match: "[{sourceNamespace: test}]" },
  ]);
  it("match the calling workload's pod labels and namespace", () => {
    const line = "GET http://reviews.default:9080/";
    expect(ruleOf(s, line, { podLabels: { app: "productpage", version: "v2", extra: "x" } })).toBe(
      "reviews/from-productpage-v2",
    );
    expect(ruleOf(s, line, { podLabels: { app: "productpage", version: "v1" } })).toBe("reviews/default");
    expect(ruleOf(s, line, { namespace: "test" })).toBe("reviews/from-test-ns");
    expect(ruleOf(s, line, { namespace: "prod" })).toBe("reviews/default");
  });
});

describe("blocks: AND inside, OR across, first block that matches", () => {
  const s = withRules([
    {
      name: "and-or",
      match:
        "[{uri: {prefix: /a}, headers: {x-user: {exact: jason}}}, {uri: {prefix: /b}, method: {exact: POST}}, {name: third, queryParams: {q: {exact: '1'}}}]",
    },
  ]);
  it.each<[string, Record<string, string>, string, number]>([
    ["GET http://reviews/a", { "x-user": "jason" }, "and-or", 0],
    ["GET http://reviews/a", {}, "default", -1],
    ["GET http://reviews/c", { "x-user": "jason" }, "default", -1],
    ["POST http://reviews/b", {}, "and-or", 1],
    ["GET http://reviews/b", {}, "default", -1],
    ["GET http://reviews/a?q=1", {}, "and-or", 2],
  ])("%s %j → %s (block %i)", (line, headers, rule, block) => {
    const d = route(s, line, { headers });
    expect(d.rule).toBe(`reviews/${rule}`);
    expect(d.matchIndex).toBe(block);
    if (block === 2) expect(d.route?.matches[2]?.name).toBe("third");
  });
});

describe("first match wins", () => {
  it("takes the earliest rule that matches, whatever comes later", () => {
    const s = withRules([
      { name: "first", match: "[{uri: {prefix: /}}]" },
      { name: "second", match: "[{uri: {exact: /x}}]" },
    ]);
    expect(route(s, "GET http://reviews/x").rule).toBe("reviews/first");
    expect(route(s, "GET http://reviews/x").route?.index).toBe(0);
  });

  it("answers NR when no rule matches and there is no catch-all", () => {
    const s = snap([
      ...BASE,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{match: [{uri: {exact: /only}}], route: [{destination: {host: reviews, subset: v1}}]}]
`,
    ]);
    const d = route(s, "GET http://reviews/other");
    expect(d).toMatchObject({
      kind: "noroute",
      flag: "NR",
      rule: null,
      host: "reviews.default.svc.cluster.local",
    });
    expect(route(s, "GET http://reviews/only").rule).toBe("reviews/0");
  });
});

describe("gateways", () => {
  const GW = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`;
  const s = withRules(
    [
      { name: "edge-only", match: "[{uri: {prefix: /admin}, gateways: [edge]}]" },
      { name: "mesh-only", match: "[{uri: {prefix: /internal}, gateways: [mesh]}]" },
      {
        name: "either",
        match: "[{uri: {prefix: /edge}, gateways: [default/edge]}, {uri: {prefix: /mesh}, gateways: [mesh]}]",
      },
    ],
    [GW],
    "  gateways: [mesh, edge]\n",
  );
  it.each([
    ["mesh", "/admin", "default"],
    ["default/edge", "/admin", "edge-only"],
    ["mesh", "/internal", "mesh-only"],
    ["default/edge", "/internal", "default"],
    ["mesh", "/edge", "default"],
    ["mesh", "/mesh", "either"],
    ["default/edge", "/edge", "either"],
    ["default/edge", "/mesh", "default"],
  ])("in %s, %s → %s", (context, path, rule) => {
    expect(ruleOf(s, `GET http://reviews${path}`, { context })).toBe(`reviews/${rule}`);
  });

  it("a VirtualService bound to a gateway only is absent from the mesh (default route applies)", () => {
    const only = snap([
      ...BASE,
      GW,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge-vs}
spec:
  hosts: ["*"]
  gateways: [edge]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
`,
    ]);
    expect(route(only, "GET http://reviews/").rule).toBeNull();
    expect(route(only, "GET http://bookinfo.example.com/", { context: "default/edge" }).rule).toBe(
      "edge-vs/0",
    );
    expect(route(only, "GET http://bookinfo.example.com/", { context: "default/other" }).kind).toBe(
      "noroute",
    );
  });
});

describe("ignoreUriCase", () => {
  it("applies to exact and prefix only; a regex stays case-sensitive (Istio HTTPMatchRequest)", () => {
    const s = withRules([{ name: "re", match: "[{uri: {regex: '/Reviews/[0-9]+'}, ignoreUriCase: true}]" }]);
    expect(ruleOf(s, "GET http://reviews/Reviews/1")).toBe("reviews/re");
    expect(ruleOf(s, "GET http://reviews/reviews/1")).toBe("reviews/default");
  });
});
