/**
 * AuthorizationPolicy and PeerAuthentication, table-driven from the examples of Istio's
 * reference pages (security.istio.io): which policies apply, DENY before ALLOW, no ALLOW policy ⇒
 * allow, some ALLOW policy ⇒ default deny, patterns, CIDRs, `when` keys, and fields Lanecar cannot
 * evaluate (JWT) handled as Istio handles unenforceable fields.
 */
import { describe, expect, it } from "vitest";
import {
  type AuthorizationPolicySpec,
  Authorizer,
  type AuthzRequest,
  type NamedPolicy,
} from "../../src/authz/authorization-policy.js";
import { checkAuthorizationPolicy } from "../../src/authz/authorization-policy-check.js";
import {
  checkPeerAuthentication,
  mtlsModeFor,
  type PeerAuthenticationSpec,
} from "../../src/authz/peer-authentication.js";

const SLEEP = "cluster.local/ns/default/sa/sleep";
const TEST_NS = "cluster.local/ns/test/sa/any";
const DEV = "cluster.local/ns/dev/sa/tool";

function req(over: Partial<AuthzRequest> & { headers?: Record<string, string> } = {}): AuthzRequest {
  const headers = over.headers ?? {};
  return {
    principal: SLEEP,
    sourceIp: "10.0.0.9",
    host: "httpbin.foo.svc.cluster.local:8000",
    method: "GET",
    path: "/",
    port: 8000,
    header: (n) => headers[n.toLowerCase()],
    ...over,
  };
}

const HTTPBIN = { namespace: "foo", labels: { app: "httpbin", version: "v1" } };

function authz(specs: AuthorizationPolicySpec[], w = HTTPBIN, ns = "foo"): Authorizer {
  const ps: NamedPolicy<AuthorizationPolicySpec>[] = specs.map((spec, i) => ({
    namespace: ns,
    name: `p${i}`,
    spec,
  }));
  return new Authorizer(ps, w);
}

/** Istio's reference example "httpbin" without its JWT condition. */
const HTTPBIN_ALLOW: AuthorizationPolicySpec = {
  action: "ALLOW",
  rules: [
    {
      from: [{ source: { principals: [SLEEP] } }, { source: { namespaces: ["test"] } }],
      to: [
        { operation: { methods: ["GET"], paths: ["/info*"] } },
        { operation: { methods: ["POST"], paths: ["/data"] } },
      ],
    },
  ],
};

describe("AuthorizationPolicy decisions (Istio reference examples)", () => {
  it.each([
    ["sleep GET /info", req({ path: "/info" }), true],
    [
      "sleep POST /data?q=1 (the query is not part of the path)",
      req({ method: "POST", path: "/data?q=1" }),
      true,
    ],
    ["namespace test POST /data", req({ principal: TEST_NS, method: "POST", path: "/data" }), true],
    ["sleep POST /info (method/path pair mismatch)", req({ method: "POST", path: "/info" }), false],
    ["sleep GET /data", req({ path: "/data" }), false],
    ["dev namespace GET /info", req({ principal: DEV, path: "/info" }), false],
    ["plaintext (no principal) GET /info", req({ principal: undefined, path: "/info" }), false],
  ])("ALLOW httpbin: %s → %s", (_n, r, allowed) => {
    const d = authz([HTTPBIN_ALLOW]).decide(r);
    expect(d.allowed).toBe(allowed);
    expect(d.reason).toBe(allowed ? "allowed" : "no-allow-match");
    expect(d.policy).toBe(allowed ? "foo/p0" : null);
  });

  it("the reference example with its JWT condition denies everything (ALLOW rule on an unsupported key matches nothing)", () => {
    const withJwt: AuthorizationPolicySpec = {
      ...HTTPBIN_ALLOW,
      rules: [
        {
          ...HTTPBIN_ALLOW.rules![0]!,
          when: [{ key: "request.auth.claims[iss]", values: ["https://accounts.google.com"] }],
        },
      ],
    };
    expect(authz([withJwt]).decide(req({ path: "/info" })).allowed).toBe(false);
  });

  it("DENY from namespace dev to POST, on every workload of foo (no selector); DENY before ALLOW", () => {
    const deny: AuthorizationPolicySpec = {
      action: "DENY",
      rules: [{ from: [{ source: { namespaces: ["dev"] } }], to: [{ operation: { methods: ["POST"] } }] }],
    };
    const a = authz([deny]);
    expect(a.decide(req({ principal: DEV, method: "POST" }))).toMatchObject({
      allowed: false,
      reason: "denied",
      policy: "foo/p0",
    });
    expect(a.decide(req({ principal: DEV, method: "GET" }))).toMatchObject({
      allowed: true,
      reason: "no-policy",
    });
    // An ALLOW-all beside it does not rescue a denied request.
    expect(authz([deny, { rules: [{}] }]).decide(req({ principal: DEV, method: "POST" })).allowed).toBe(
      false,
    );
  });

  it("spec {} (ALLOW, no rules) denies all; rules: [{}] allows all; DENY rules: [{}] denies all; DENY without rules denies nothing", () => {
    expect(authz([{}]).decide(req()).allowed).toBe(false);
    expect(authz([{ rules: [{}] }]).decide(req()).allowed).toBe(true);
    expect(authz([{ action: "DENY", rules: [{}] }]).decide(req()).allowed).toBe(false);
    expect(authz([{ action: "DENY" }]).decide(req())).toMatchObject({ allowed: true, reason: "no-policy" });
  });

  it("a selector picks workloads by label; other namespaces' policies never apply; the root namespace's apply everywhere", () => {
    const selected: AuthorizationPolicySpec = {
      selector: { matchLabels: { app: "httpbin", version: "v1" } },
      rules: [
        {
          from: [{ source: { principals: [SLEEP] } }],
          to: [{ operation: { methods: ["GET"] } }],
          when: [{ key: "request.headers[version]", values: ["v1", "v2"] }],
        },
      ],
    };
    const a = authz([selected]);
    expect(a.decide(req({ headers: { version: "v2" } })).allowed).toBe(true);
    expect(a.decide(req({ headers: { version: "v3" } })).allowed).toBe(false);
    expect(a.decide(req()).allowed).toBe(false);
    // v2 of httpbin is not selected: no policy applies to it.
    expect(authz([selected], { namespace: "foo", labels: { app: "httpbin", version: "v2" } }).active).toBe(
      false,
    );
    // A policy in namespace bar does not apply to foo's workloads.
    expect(authz([{}], HTTPBIN, "bar").active).toBe(false);
    // istio-system is the root namespace: mesh-wide.
    expect(authz([{}], HTTPBIN, "istio-system").decide(req()).allowed).toBe(false);
  });

  it("ipBlocks and notIpBlocks match CIDRs (IPv4-mapped addresses too); source.ip in when", () => {
    const a = authz([{ rules: [{ from: [{ source: { ipBlocks: ["1.2.3.4", "5.6.7.0/24"] } }] }] }]);
    expect(a.decide(req({ sourceIp: "1.2.3.4" })).allowed).toBe(true);
    expect(a.decide(req({ sourceIp: "::ffff:5.6.7.200" })).allowed).toBe(true);
    expect(a.decide(req({ sourceIp: "5.6.8.1" })).allowed).toBe(false);
    const b = authz([
      { action: "DENY", rules: [{ when: [{ key: "source.ip", notValues: ["10.0.0.0/8"] }] }] },
    ]);
    expect(b.decide(req({ sourceIp: "10.1.2.3" })).allowed).toBe(true);
    expect(b.decide(req({ sourceIp: "192.168.1.1" })).allowed).toBe(false);
  });

  it("patterns: prefix, suffix and * (any authenticated principal); hosts case-insensitive with or without port", () => {
    const a = authz([
      {
        rules: [
          {
            from: [{ source: { principals: ["*"] } }],
            to: [
              {
                operation: {
                  hosts: ["HTTPBIN.foo.svc.cluster.local"],
                  paths: ["*/status"],
                  notPaths: ["/admin*"],
                },
              },
            ],
          },
        ],
      },
    ]);
    expect(a.decide(req({ path: "/v1/status" })).allowed).toBe(true);
    expect(a.decide(req({ path: "/admin/status" })).allowed).toBe(false);
    expect(a.decide(req({ path: "/v1/status", principal: undefined })).allowed).toBe(false);
    expect(a.decide(req({ path: "/v1/status", host: "other:8000" })).allowed).toBe(false);
  });

  it("a DENY rule ignores what it cannot evaluate (denies more); notPrincipals matches a plaintext peer", () => {
    const a = authz([
      {
        action: "DENY",
        rules: [
          { from: [{ source: { requestPrincipals: ["*"] } }], to: [{ operation: { paths: ["/secret"] } }] },
        ],
      },
    ]);
    expect(a.decide(req({ path: "/secret" })).allowed).toBe(false);
    expect(a.decide(req({ path: "/open" })).allowed).toBe(true);
    const b = authz([{ action: "DENY", rules: [{ from: [{ source: { notPrincipals: [SLEEP] } }] }] }]);
    expect(b.decide(req({ principal: undefined })).allowed).toBe(false);
    expect(b.decide(req()).allowed).toBe(true);
  });

  it("ports, destination.port, source.namespace and source.principal keys", () => {
    const a = authz([
      {
        rules: [
          {
            to: [{ operation: { ports: ["8000"] } }],
            when: [
              { key: "destination.port", values: ["8000"] },
              { key: "source.namespace", values: ["default"] },
              { key: "source.principal", notValues: ["*/sa/blocked"] },
            ],
          },
        ],
      },
    ]);
    expect(a.decide(req()).allowed).toBe(true);
    expect(a.decide(req({ port: 9000 })).allowed).toBe(false);
    expect(a.decide(req({ principal: "cluster.local/ns/default/sa/blocked" })).allowed).toBe(false);
    expect(a.decide(req({ principal: DEV })).allowed).toBe(false);
  });

  it("AUDIT never changes a decision; CUSTOM fails closed", () => {
    expect(authz([{ action: "AUDIT", rules: [{}] }]).decide(req())).toMatchObject({
      allowed: true,
      audit: true,
    });
    expect(
      authz([
        { action: "CUSTOM", provider: { name: "ext" }, rules: [{ to: [{ operation: { paths: ["/x"] } }] }] },
      ]).decide(req({ path: "/x" })).allowed,
    ).toBe(false);
  });
});

describe("AuthorizationPolicy validation", () => {
  it.each([
    [{ action: "PERMIT" }, "error", "spec.action", /not one of ALLOW, DENY, AUDIT, CUSTOM/],
    [
      { rules: [{ to: [{ operation: { paths: ["/a*b"] } }] }] },
      "error",
      "spec.rules[0].to[0].operation.paths[0]",
      /"\*" is allowed only/,
    ],
    [
      { rules: [{ from: [{ source: { ipBlocks: ["1.2.3.4/40"] } }] }] },
      "error",
      "spec.rules[0].from[0].source.ipBlocks[0]",
      /invalid prefix length/,
    ],
    [
      { rules: [{ from: [{ source: { ipBlocks: ["nope"] } }] }] },
      "error",
      "spec.rules[0].from[0].source.ipBlocks[0]",
      /not an IP address/,
    ],
    [
      { rules: [{ to: [{ operation: { ports: ["http"] } }] }] },
      "error",
      "spec.rules[0].to[0].operation.ports[0]",
      /not a port number/,
    ],
    [
      { rules: [{ when: [{ key: "request.headers[x]" }] }] },
      "error",
      "spec.rules[0].when[0]",
      /at least one of values or notValues/,
    ],
    [
      { rules: [{ when: [{ key: "nonsense.key", values: ["a"] }] }] },
      "error",
      "spec.rules[0].when[0].key",
      /unknown attribute/,
    ],
    [
      { rules: [{ when: [{ key: "request.auth.claims[iss]", values: ["a"] }] }] },
      "warning",
      "spec.rules[0].when[0].key",
      /not supported/,
    ],
    [{ action: "CUSTOM", provider: { name: "x" } }, "warning", "spec.action", /fail closed/],
    [{ provider: { name: "x" } }, "error", "spec.provider", /only allowed with action CUSTOM/],
  ] as const)("%j → %s at %s", (spec, severity, path, msg) => {
    const ps = checkAuthorizationPolicy(spec as AuthorizationPolicySpec);
    expect(ps).toContainEqual({ severity, path, message: expect.stringMatching(msg) });
  });

  it("the reference examples validate without errors", () => {
    for (const spec of [HTTPBIN_ALLOW, {}, { rules: [{}] }, { action: "DENY" as const, rules: [{}] }])
      expect(checkAuthorizationPolicy(spec).filter((p) => p.severity === "error")).toEqual([]);
  });
});

describe("PeerAuthentication precedence (Istio reference examples)", () => {
  const pa = (
    namespace: string,
    name: string,
    spec: PeerAuthenticationSpec,
  ): NamedPolicy<PeerAuthenticationSpec> => ({
    namespace,
    name,
    spec,
  });
  const finance = { namespace: "foo", labels: { app: "finance" } };
  const mesh = pa("istio-system", "default", { mtls: { mode: "STRICT" } });
  const fooPermissive = pa("foo", "default", { mtls: { mode: "PERMISSIVE" } });
  const financePorts = pa("foo", "finance", {
    selector: { matchLabels: { app: "finance" } },
    mtls: { mode: "STRICT" },
    portLevelMtls: { "8080": { mode: "DISABLE" } },
  });

  it("nothing configured: PERMISSIVE", () => {
    expect(mtlsModeFor([], finance, 8080)).toEqual({ mode: "PERMISSIVE", policy: null });
  });
  it("mesh-wide STRICT, overridden by namespace PERMISSIVE, overridden by the workload and its port", () => {
    expect(mtlsModeFor([mesh], finance, 9090)).toEqual({ mode: "STRICT", policy: "istio-system/default" });
    expect(mtlsModeFor([mesh, fooPermissive], finance, 9090)).toEqual({
      mode: "PERMISSIVE",
      policy: "foo/default",
    });
    expect(mtlsModeFor([mesh, fooPermissive, financePorts], finance, 9090)).toEqual({
      mode: "STRICT",
      policy: "foo/finance",
    });
    expect(mtlsModeFor([mesh, fooPermissive, financePorts], finance, 8080)).toEqual({
      mode: "DISABLE",
      policy: "foo/finance",
    });
  });
  it("UNSET inherits from the next level; another namespace's policies never apply", () => {
    const unset = pa("foo", "finance", {
      selector: { matchLabels: { app: "finance" } },
      mtls: { mode: "UNSET" },
      portLevelMtls: { "8080": { mode: "DISABLE" } },
    });
    expect(mtlsModeFor([fooPermissive, unset], finance, 9090)).toEqual({
      mode: "PERMISSIVE",
      policy: "foo/default",
    });
    expect(mtlsModeFor([fooPermissive, unset], finance, 8080)).toEqual({
      mode: "DISABLE",
      policy: "foo/finance",
    });
    expect(mtlsModeFor([pa("bar", "default", { mtls: { mode: "STRICT" } })], finance, 1)).toEqual({
      mode: "PERMISSIVE",
      policy: null,
    });
  });
  it("validation: portLevelMtls needs a selector; modes and ports are checked", () => {
    expect(checkPeerAuthentication({ portLevelMtls: { "8080": { mode: "DISABLE" } } }, "foo")).toContainEqual(
      {
        severity: "error",
        path: "spec.portLevelMtls",
        message: "requires a workload selector",
      },
    );
    expect(checkPeerAuthentication({ mtls: { mode: "ON" as "STRICT" } }, "foo")[0]?.message).toMatch(
      /not one of UNSET/,
    );
    expect(
      checkPeerAuthentication({ selector: { matchLabels: { a: "b" } }, portLevelMtls: { x: {} } }, "foo")[0]
        ?.message,
    ).toMatch(/not a port number/);
  });
});
