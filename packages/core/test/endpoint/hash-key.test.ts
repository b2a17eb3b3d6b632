import { describe, expect, it } from "vitest";
import { ALL_AVAILABLE, hashKeyFor, type RouteRequest } from "../../src/index.js";
import { req, route, serviceEntry, snap } from "../route/support.js";

const withIp = (r: RouteRequest, sourceIp: string): RouteRequest => ({ ...r, sourceIp });

describe("hashKeyFor", () => {
  const r = req("GET http://reviews/x?user=jason&b=2", {
    "x-user": "alice",
    cookie: "a=1; session=abc123; z=9",
  });

  it("reads the configured header, cookie, source IP or query parameter", () => {
    expect(hashKeyFor({ httpHeaderName: "x-user" }, r)).toBe("alice");
    expect(hashKeyFor({ httpCookie: { name: "session" } }, r)).toBe("abc123");
    expect(hashKeyFor({ useSourceIp: true }, withIp(r, "192.0.2.7"))).toBe("192.0.2.7");
    expect(hashKeyFor({ httpQueryParameterName: "user" }, r)).toBe("jason");
  });

  it("is undefined when the policy is not hashing or the request lacks the key", () => {
    expect(hashKeyFor(undefined, r)).toBeUndefined();
    expect(hashKeyFor({ httpHeaderName: "x-missing" }, r)).toBeUndefined();
    expect(hashKeyFor({ httpCookie: { name: "nope" } }, r)).toBeUndefined();
    expect(hashKeyFor({ httpCookie: { name: "session" } }, req("GET http://reviews/"))).toBeUndefined();
    expect(hashKeyFor({ useSourceIp: true }, r)).toBeUndefined();
    expect(hashKeyFor({ httpQueryParameterName: "nope" }, r)).toBeUndefined();
    expect(hashKeyFor({ httpQueryParameterName: "user" }, req("GET http://reviews/x"))).toBeUndefined();
  });

  it("end to end: a DestinationRule's header name (any case) keeps one user on one endpoint", () => {
    const s = snap([
      serviceEntry("reviews", [{ port: 19001 }, { port: 19002 }, { port: 19003 }]),
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: X-User}}}
`,
    ]);
    const pickFor = (user: string) => {
      const headers = { "x-user": user };
      const d = route(s, "GET http://reviews/", { headers });
      const key = hashKeyFor(
        d.cluster!.policy.loadBalancer?.consistentHash,
        req("GET http://reviews/", headers),
      );
      expect(key).toBe(user);
      return d.cluster!.pick(ALL_AVAILABLE, key)!.port;
    };
    for (const u of ["alice", "bob", "carol", "dave"]) {
      const first = pickFor(u);
      for (let i = 0; i < 5; i++) expect(pickFor(u)).toBe(first);
    }
  });
});
