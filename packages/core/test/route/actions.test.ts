import { describe, expect, it } from "vitest";
import {
  decideFault,
  type HTTPRedirect,
  headerOps,
  redirectLocation,
  rewritePath,
  sampleMirror,
} from "../../src/index.js";
import { destinationRule, route, sequence, serviceEntry, snap } from "./support.js";

describe("rewritePath", () => {
  it("replaces the matched uri prefix and keeps the rest and the query", () => {
    expect(rewritePath({ uri: "/v2/reviews" }, "/reviews/1?x=1", "/reviews")).toBe("/v2/reviews/1?x=1");
    expect(rewritePath({ uri: "/" }, "/api/v1/products", "/api/")).toBe("/v1/products");
  });

  it("joins with one slash when both sides have one", () => {
    expect(rewritePath({ uri: "/" }, "/reviews/1", "/reviews")).toBe("/1");
    expect(rewritePath({ uri: "/v1/" }, "/old/foo", "/old/")).toBe("/v1/foo");
  });

  it("replaces the whole path when the rule did not match on a prefix", () => {
    expect(rewritePath({ uri: "/login" }, "/signin?next=/", undefined)).toBe("/login?next=/");
    expect(rewritePath({ uri: "/x" }, "/other", "/nomatch")).toBe("/x");
  });

  it("leaves the path alone with only an authority rewrite", () => {
    expect(rewritePath({ authority: "new" }, "/a?b", "/a")).toBe("/a?b");
  });

  it("uriRegexRewrite replaces every match with \\N groups, query untouched", () => {
    const rw = { uriRegexRewrite: { match: "^/service/([^/]+)(/.*)$", rewrite: "\\2/instance/\\1" } };
    expect(rewritePath(rw, "/service/foo/v1/api?q=/service/x/y", undefined)).toBe(
      "/v1/api/instance/foo?q=/service/x/y",
    );
    expect(rewritePath({ uriRegexRewrite: { match: "a", rewrite: "b" } }, "/aaa", undefined)).toBe("/bbb");
    // `$` in the replacement is literal, not a JavaScript group reference.
    expect(rewritePath({ uriRegexRewrite: { match: "/(x)", rewrite: "/$1\\1" } }, "/x", undefined)).toBe(
      "/$1x",
    );
    // Repeated use of one cached regex is stateless.
    expect(rewritePath(rw, "/service/bar/z", undefined)).toBe("/z/instance/bar");
  });
});

describe("redirectLocation", () => {
  const req = { scheme: "http", authority: "reviews:9080", path: "/old/a?q=1", port: 9080 };
  const rd = (r: Partial<HTTPRedirect>): HTTPRedirect => ({ redirectCode: 301, ...r });

  it("keeps what the redirect does not override", () => {
    expect(redirectLocation(rd({}), req, undefined)).toBe("http://reviews:9080/old/a?q=1");
  });

  it("overrides scheme, authority and port", () => {
    expect(redirectLocation(rd({ scheme: "https" }), req, undefined)).toBe("https://reviews:9080/old/a?q=1");
    expect(redirectLocation(rd({ authority: "new.example.com" }), req, undefined)).toBe(
      "http://new.example.com/old/a?q=1",
    );
    expect(redirectLocation(rd({ port: 8443 }), req, undefined)).toBe("http://reviews:8443/old/a?q=1");
    expect(redirectLocation(rd({ authority: "new:1", port: 2 }), req, undefined)).toBe(
      "http://new:2/old/a?q=1",
    );
  });

  it("derivePort: protocol default drops the port, request port keeps the request's", () => {
    expect(
      redirectLocation(rd({ scheme: "https", derivePort: "FROM_PROTOCOL_DEFAULT" }), req, undefined),
    ).toBe("https://reviews/old/a?q=1");
    expect(
      redirectLocation(rd({ authority: "x.example.com", derivePort: "FROM_REQUEST_PORT" }), req, undefined),
    ).toBe("http://x.example.com:9080/old/a?q=1");
  });

  it("uri replaces the entire path even when the rule matched a prefix (Istio HTTPRedirect.uri)", () => {
    expect(redirectLocation(rd({ uri: "/new" }), req, undefined)).toBe("http://reviews:9080/new?q=1");
    expect(redirectLocation(rd({ uri: "/new" }), req, "/old")).toBe("http://reviews:9080/new?q=1");
  });

  it("through the router: a redirect rule's decision carries the spec for the Location", () => {
    const s = snap([
      serviceEntry("reviews", [{ port: 19001 }]),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{match: [{uri: {prefix: /old}}], redirect: {uri: /v1/new, authority: bookratings, redirectCode: 308}}]
`,
    ]);
    const d = route(s, "GET http://reviews:9080/old/x");
    expect(d.kind).toBe("redirect");
    const spec = d.route!.spec.redirect!;
    expect(spec.redirectCode).toBe(308);
    expect(
      redirectLocation(spec, { ...req, path: "/old/x" }, d.route!.matches[d.matchIndex]!.uriPrefix),
    ).toBe("http://bookratings/v1/new");
  });
});

describe("decideFault", () => {
  const fault = { delay: { fixedDelayMs: 5000, percentage: 10 }, abort: { httpStatus: 503, percentage: 50 } };

  it("no fault block, no fault and no draw", () => {
    expect(
      decideFault(undefined, () => {
        throw new Error("no draw");
      }),
    ).toEqual({ delayMs: 0, abortStatus: 0 });
  });

  it("draws the delay, then the abort, each against its own percentage", () => {
    expect(decideFault(fault, sequence(0.05, 0.4))).toEqual({ delayMs: 5000, abortStatus: 503 });
    expect(decideFault(fault, sequence(0.1, 0.4))).toEqual({ delayMs: 0, abortStatus: 503 });
    expect(decideFault(fault, sequence(0.05, 0.5))).toEqual({ delayMs: 5000, abortStatus: 0 });
    expect(decideFault(fault, sequence(0.99, 0.99))).toEqual({ delayMs: 0, abortStatus: 0 });
  });

  it("0% never, 100% always, fractional percentages honoured", () => {
    const never = { abort: { httpStatus: 500, percentage: 0 } };
    const always = { abort: { httpStatus: 500, percentage: 100 } };
    const tiny = { delay: { fixedDelayMs: 1, percentage: 0.1 } };
    for (const x of [0, 0.5, 0.999999]) {
      expect(decideFault(never, () => x).abortStatus).toBe(0);
      expect(decideFault(always, () => x).abortStatus).toBe(500);
    }
    expect(decideFault(tiny, () => 0.0009).delayMs).toBe(1);
    expect(decideFault(tiny, () => 0.001).delayMs).toBe(0);
  });

  it("through validation: legacy `percent` and `percentage.value` both become percentages", () => {
    const s = snap([
      serviceEntry("ratings", [{ port: 19030 }]),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{headers: {x-legacy: {}}}]
    fault: {abort: {httpStatus: 500, percent: 30}}
    route: [{destination: {host: ratings}}]
  - fault: {delay: {fixedDelay: 7s, percentage: {value: 12.5}}}
    route: [{destination: {host: ratings}}]
`,
    ]);
    const legacy = route(s, "GET http://ratings/", { headers: { "x-legacy": "1" } }).route!.spec.fault;
    expect(decideFault(legacy, () => 0.29)).toEqual({ delayMs: 0, abortStatus: 500 });
    expect(decideFault(legacy, () => 0.3)).toEqual({ delayMs: 0, abortStatus: 0 });
    const modern = route(s, "GET http://ratings/").route!.spec.fault;
    expect(decideFault(modern, () => 0.124)).toEqual({ delayMs: 7000, abortStatus: 0 });
    expect(decideFault(modern, () => 0.125)).toEqual({ delayMs: 0, abortStatus: 0 });
  });
});

describe("fault without a percentage (issue 12 item 1)", () => {
  it("injects nothing, as Istio: an unspecified percentage delays or aborts no request", () => {
    const s = snap([
      serviceEntry("ratings", [{ port: 19030 }]),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{headers: {x-abort: {}}}]
    fault: {abort: {httpStatus: 500}}
    route: [{destination: {host: ratings}}]
  - fault: {delay: {fixedDelay: 7s}}
    route: [{destination: {host: ratings}}]
`,
    ]);
    const abort = route(s, "GET http://ratings/", { headers: { "x-abort": "1" } }).route!.spec.fault;
    const delay = route(s, "GET http://ratings/").route!.spec.fault;
    for (const x of [0, 0.5, 0.999999]) {
      expect(decideFault(abort, () => x)).toEqual({ delayMs: 0, abortStatus: 0 });
      expect(decideFault(delay, () => x)).toEqual({ delayMs: 0, abortStatus: 0 });
    }
    expect(abort?.abort?.percentage).toBe(0);
    expect(delay?.delay?.percentage).toBe(0);
  });
});

describe("sampleMirror", () => {
  it("mirrors the configured percentage of requests", () => {
    expect(sampleMirror(100, () => 0.9999)).toBe(true);
    expect(sampleMirror(0, () => 0)).toBe(false);
    expect(sampleMirror(25, () => 0.2499)).toBe(true);
    expect(sampleMirror(25, () => 0.25)).toBe(false);
  });
});

describe("headerOps", () => {
  const s = snap([
    serviceEntry("reviews", [
      { port: 19001, labels: { version: "v1" } },
      { port: 19002, labels: { version: "v2" } },
    ]),
    destinationRule("reviews", { v1: { version: "v1" }, v2: { version: "v2" } }),
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /plain}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - headers:
      request: {set: {X-Route: r, x-both: route}, add: {x-add: r}, remove: [x-secret]}
      response: {set: {x-served-by: route}}
    route:
    - destination: {host: reviews, subset: v1}
      headers:
        request: {set: {x-both: dest}, add: {x-add: d}, remove: [x-other]}
`,
  ]);

  it("merges route-level then destination-level operations, so the destination's set wins", () => {
    const d = route(s, "GET http://reviews/");
    const ops = headerOps(d.route, d.destinationHeaders);
    expect(ops.request).toEqual({
      set: [
        ["x-route", "r"],
        ["x-both", "route"],
        ["x-both", "dest"],
      ],
      add: [
        ["x-add", "r"],
        ["x-add", "d"],
      ],
      remove: ["x-secret", "x-other"],
    });
    expect(ops.response.set).toEqual([["x-served-by", "route"]]);
    // Applied in order, the last `set` of a name wins.
    const applied = new Map(ops.request.set);
    expect(applied.get("x-both")).toBe("dest");
  });

  it("is cached per (route, destination), and empty when neither sets anything", () => {
    const d = route(s, "GET http://reviews/");
    expect(headerOps(d.route, d.destinationHeaders)).toBe(headerOps(d.route, d.destinationHeaders));
    const p = route(s, "GET http://reviews/plain");
    expect(headerOps(p.route, p.destinationHeaders)).toEqual({
      request: { set: [], add: [], remove: [] },
      response: { set: [], add: [], remove: [] },
    });
    expect(headerOps(undefined, undefined).request).toEqual({ set: [], add: [], remove: [] });
  });
});
