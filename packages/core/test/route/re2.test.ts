/**
 * Regex semantics are RE2's, as Istio and Envoy evaluate VirtualService regexes: inline flags
 * such as `(?i)` work, lookaround and backreferences are refused at validation, a match is a full
 * match, matching is linear-time, and `uriRegexRewrite` takes RE2's `\1` rewrite syntax.
 */
import fc from "fast-check";
import { RE2JS } from "re2js";
import { describe, expect, it } from "vitest";
import { rewritePath } from "../../src/index.js";
import { fullMatch, re2Replacement } from "../../src/route/re2.js";
import { errors, load, yaml } from "../resources/helpers.js";
import { route, serviceEntry, snap } from "./support.js";

function reviews(match: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: hit
    match: [${match}]
    route: [{destination: {host: reviews}}]
`;
}

describe("RE2 regex semantics", () => {
  it("(?i)jason matches any case, as in Istio's own examples", () => {
    const s = snap([
      serviceEntry("reviews", [{ port: 19080 }]),
      reviews("{headers: {end-user: {regex: '(?i)jason'}}}"),
    ]);
    for (const who of ["jason", "Jason", "JASON"])
      expect(route(s, "GET http://reviews/", { headers: { "end-user": who } }).rule).toBe("reviews/hit");
    expect(route(s, "GET http://reviews/", { headers: { "end-user": "jasonx" } }).kind).toBe("noroute");
  });

  it("refuses lookahead, lookbehind and backreferences at validation, with RE2's reason", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - match:
          - uri: {regex: "/reviews/(?=[0-9])"}
            headers:
              end-user: {regex: "(?<!bob)jason"}
              x-pair: {regex: "(a)\\1"}
          route: [{destination: {host: reviews}}]
    `;
    const errs = errors(load(text, { file: "routes.yaml" }).diagnostics);
    expect(errs).toEqual([
      "routes.yaml:8:13 VirtualService/default/reviews: spec.http[0].match[0].uri.regex: regex does not compile (RE2): invalid or unsupported Perl syntax: `(?=`",
      "routes.yaml:10:20 VirtualService/default/reviews: spec.http[0].match[0].headers.end-user.regex: regex does not compile (RE2): invalid named capture: `(?<!bob)jason`",
      "routes.yaml:11:18 VirtualService/default/reviews: spec.http[0].match[0].headers.x-pair.regex: regex does not compile (RE2): invalid escape sequence: `\\1`",
    ]);
  });

  it("matches in linear time: a pattern that backtracks exponentially in JavaScript returns at once", () => {
    const s = snap([serviceEntry("reviews", [{ port: 19080 }]), reviews("{uri: {regex: '/(a+)+'}}")]);
    const evil = `/${"a".repeat(40)}!`;
    const t0 = performance.now();
    expect(route(s, `GET http://reviews${evil}`).kind).toBe("noroute");
    expect(route(s, `GET http://reviews/${"a".repeat(40)}`).rule).toBe("reviews/hit");
    // A backtracking engine needs ~2^40 steps here (hours); RE2 a few microseconds.
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it("uriRegexRewrite takes RE2 rewrite syntax: \\1 groups, \\0 the whole match, $ literal", () => {
    const rw = { uriRegexRewrite: { match: "^/service/([^/]+)(/.*)$", rewrite: "\\2/instance/\\1" } };
    expect(rewritePath(rw, "/service/foo/v1/api?x=1", undefined)).toBe("/v1/api/instance/foo?x=1");
    expect(
      rewritePath({ uriRegexRewrite: { match: "[0-9]+", rewrite: "<\\0>$1" } }, "/a/12/b/3", undefined),
    ).toBe("/a/<12>$1/b/<3>$1");
    expect(re2Replacement("\\\\x")).toBe("\\x");
  });

  it("the plain-text fast path answers exactly as RE2 does (random literals and values, with and without (?i))", () => {
    const chars = fc.constantFrom("a", "J", "k", "s", "S", "-", "/", " ", "1", "\u212a", "\u017f", "é", "K");
    const word = fc.array(chars, { maxLength: 6 }).map((a) => a.join(""));
    const asciiWord = word.map((w) => w.replace(/[^\x20-\x7e]/g, "x"));
    fc.assert(
      fc.property(asciiWord, word, fc.boolean(), (lit, value, fold) => {
        const pattern = fold ? `(?i)${lit}` : lit;
        const truth = RE2JS.compile(pattern).testExact(value);
        expect(fullMatch(pattern)(value)).toBe(truth);
        expect(fullMatch(pattern)(fold ? lit.toUpperCase() : lit)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    // RE2 folds the Kelvin sign to k: the fast path must not decide non-ASCII values itself.
    expect(fullMatch("(?i)kate")("\u212aate")).toBe(true);
    expect(fullMatch("kate")("Kate")).toBe(false);
  });
});
