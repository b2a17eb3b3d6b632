/**
 * explain() and security.istio.io policies: for the destination workload of a Bookinfo request,
 * which AuthorizationPolicy decides (name, action, rule index) — as plaintext (principals never
 * match) or as the mutual-TLS caller `principal` — and the mTLS mode PeerAuthentication gives its
 * port (plaintext to a STRICT port is refused before any policy).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { buildSnapshot, type ConfigSnapshot, describeAuthz, explain } from "../../src/index.js";

const fixture = (f: string) => ({
  file: f,
  text: readFileSync(fileURLToPath(new URL(`../fixtures/bookinfo/${f}`, import.meta.url)), "utf8"),
});

function snapshot(policies: string): ConfigSnapshot {
  const texts = [fixture("services.yaml"), fixture("destination-rules.yaml"), fixture("tasks/jason-v2.yaml")];
  if (policies) texts.push({ file: "policies.yaml", text: policies });
  const { snapshot, diagnostics } = buildSnapshot(texts);
  expect(diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return snapshot!;
}

const JASON = { request: "GET http://reviews:9080/reviews/0", headers: { "end-user": "jason" } };

const POLICIES = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: reviews-v2}
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  portLevelMtls: {"19084": {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]
  - to: [{operation: {methods: [GET], paths: ["/reviews/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: block}
spec:
  action: DENY
  rules: [{when: [{key: "request.headers[x-block]", values: ["*"]}]}]
`;

describe("explain: the destination workload's AuthorizationPolicy and mTLS mode", () => {
  it("a plaintext GET to reviews v2 is allowed by the path rule (the principal rule cannot match); its port is DISABLE by port-level PeerAuthentication", () => {
    const e = explain(snapshot(POLICIES), JASON);
    expect(e.destination).toEqual({ host: "reviews.default.svc.cluster.local", subset: "v2" });
    expect(e.authorization).toEqual([
      {
        namespace: "default",
        labels: { app: "reviews", version: "v2" },
        port: 19084,
        endpoints: ["127.0.0.1:19084"],
        allowed: true,
        policy: "default/reviews-viewer",
        reason: "allowed",
        action: "ALLOW",
        rule: 1,
        audit: false,
        mtls: { mode: "DISABLE", policy: "default/reviews-v2" },
        principal: null,
        refused: false,
      },
    ]);
    expect(describeAuthz(e.authorization[0]!)).toBe(
      "workload default {app=reviews,version=v2} port 19084: allowed by default/reviews-viewer (ALLOW rule 1); mTLS DISABLE (default/reviews-v2)",
    );
  });

  it("a POST matches no ALLOW rule: denied; reviews v1 takes the namespace's STRICT mode", () => {
    const e = explain(snapshot(POLICIES), { request: "POST http://reviews:9080/reviews/0" });
    expect(e.destination?.subset).toBe("v1");
    expect(e.authorization).toMatchObject([
      { labels: { app: "reviews", version: "v1" }, allowed: false, policy: null, reason: "no-allow-match" },
    ]);
    expect(e.authorization[0]!.mtls).toEqual({ mode: "STRICT", policy: "default/default" });
    // Plaintext never reaches the policy on a STRICT port.
    expect(e.authorization[0]!.refused).toBe(true);
    expect(describeAuthz(e.authorization[0]!)).toBe(
      "workload default {app=reviews,version=v1} port 19083: refused: plaintext on a STRICT port (no policy is consulted); mTLS STRICT (default/default)",
    );
  });

  it("with the caller's principal (explain --principal): the principal rule (index 0) allows the POST", () => {
    const e = explain(snapshot(POLICIES), {
      request: "POST http://reviews:9080/reviews/0",
      principal: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
    });
    expect(e.authorization).toMatchObject([
      {
        allowed: true,
        policy: "default/reviews-viewer",
        action: "ALLOW",
        rule: 0,
        principal: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
        refused: false,
      },
    ]);
    const other = explain(snapshot(POLICIES), {
      request: "POST http://reviews:9080/reviews/0",
      principal: "cluster.local/ns/default/sa/ratings",
    });
    expect(other.authorization).toMatchObject([
      { allowed: false, reason: "no-allow-match", principal: "spiffe://cluster.local/ns/default/sa/ratings" },
    ]);
    expect(describeAuthz(other.authorization[0]!)).toContain(": denied (403 RBAC): no ALLOW policy matches;");
  });

  it("a DENY policy on a header decides before the ALLOW policy; a service no ALLOW policy selects is allowed", () => {
    const s = snapshot(POLICIES);
    expect(
      explain(s, { ...JASON, headers: { ...JASON.headers, "x-block": "1" } }).authorization,
    ).toMatchObject([{ allowed: false, policy: "default/block", reason: "denied", action: "DENY", rule: 0 }]);
    expect(explain(s, { request: "GET http://ratings:9080/ratings/0" }).authorization).toMatchObject([
      { labels: { app: "ratings", version: "v1" }, allowed: true, policy: null, reason: "no-policy" },
    ]);
  });

  it("without security policies: every workload is allowed, PERMISSIVE by default", () => {
    const e = explain(snapshot(""), JASON);
    expect(e.authorization).toMatchObject([
      { port: 19084, allowed: true, reason: "no-policy", mtls: { mode: "PERMISSIVE", policy: null } },
    ]);
  });

  it("no destination workload (no route): no authorization entry", () => {
    expect(explain(snapshot(POLICIES), { request: "GET http://nowhere:80/" }).authorization).toEqual([]);
  });
});
