/**
 * AuthorizationPolicy against the policies of Istio's authorization tasks, one table row per
 * request: the policy set a task applies (fields as in the task's YAML), a request as the
 * destination sidecar sees it, and the decision with the policy and rule that made it. Pages:
 *   HTTP  = istio.io/latest/docs/tasks/security/authorization/authz-http/
 *   DENY  = istio.io/latest/docs/tasks/security/authorization/authz-deny/
 *   IP    = istio.io/latest/docs/tasks/security/authorization/authz-ingress/ (ipBlocks)
 *   REF   = istio.io/latest/docs/reference/config/security/authorization-policy/
 * Scenarios and wording are ours; Bookinfo's service accounts are `bookinfo-<service>`.
 */
import { describe, expect, it } from "vitest";
import {
  type AuthorizationPolicySpec,
  Authorizer,
  type AuthzRequest,
  type NamedPolicy,
} from "../../src/authz/authorization-policy.js";

const SA = (ns: string, sa: string) => `cluster.local/ns/${ns}/sa/${sa}`;
const PRODUCTPAGE = SA("default", "bookinfo-productpage");
const REVIEWS = SA("default", "bookinfo-reviews");
const SLEEP_FOO = SA("foo", "sleep");

type P = [name: string, namespace: string, spec: AuthorizationPolicySpec];

const ALLOW_NOTHING: P = ["allow-nothing", "default", {}];
const DENY_ALL: P = ["deny-all", "default", { action: "DENY", rules: [{}] }];
const PRODUCTPAGE_VIEWER: P = [
  "productpage-viewer",
  "default",
  {
    selector: { matchLabels: { app: "productpage" } },
    action: "ALLOW",
    rules: [{ to: [{ operation: { methods: ["GET"] } }] }],
  },
];
const DETAILS_VIEWER: P = [
  "details-viewer",
  "default",
  {
    selector: { matchLabels: { app: "details" } },
    action: "ALLOW",
    rules: [{ from: [{ source: { principals: [PRODUCTPAGE] } }], to: [{ operation: { methods: ["GET"] } }] }],
  },
];
const RATINGS_VIEWER: P = [
  "ratings-viewer",
  "default",
  {
    selector: { matchLabels: { app: "ratings" } },
    action: "ALLOW",
    rules: [{ from: [{ source: { principals: [REVIEWS] } }], to: [{ operation: { methods: ["GET"] } }] }],
  },
];
/** Every workload of namespace foo accepts callers from foo only (namespace-wide, no selector). */
const FOO_FROM_FOO: P = [
  "allow-foo",
  "foo",
  { action: "ALLOW", rules: [{ from: [{ source: { namespaces: ["foo"] } }] }] },
];
const DENY_GET_UNLESS_ADMIN: P = [
  "deny-method-get",
  "foo",
  {
    selector: { matchLabels: { app: "httpbin" } },
    action: "DENY",
    rules: [
      {
        to: [{ operation: { methods: ["GET"] } }],
        when: [{ key: "request.headers[x-token]", notValues: ["admin"] }],
      },
    ],
  },
];
const ALLOW_PATH_IP: P = [
  "allow-path-ip",
  "foo",
  {
    selector: { matchLabels: { app: "httpbin" } },
    action: "ALLOW",
    rules: [{ to: [{ operation: { paths: ["/ip"] } }] }],
  },
];
const ALLOW_EXCEPT_ADMIN: P = [
  "allow-except-admin",
  "foo",
  {
    selector: { matchLabels: { app: "httpbin" } },
    action: "ALLOW",
    rules: [{ to: [{ operation: { notPaths: ["/admin", "/admin/*"] } }] }],
  },
];
const IP_ALLOWLIST: P = [
  "ip-allowlist",
  "foo",
  {
    selector: { matchLabels: { app: "httpbin" } },
    action: "ALLOW",
    rules: [{ from: [{ source: { ipBlocks: ["203.0.113.7", "198.51.100.0/24"] } }] }],
  },
];

interface Row {
  page: string;
  what: string;
  policies: P[];
  workload: { namespace: string; labels: Record<string, string> };
  request: Partial<AuthzRequest> & { headers?: Record<string, string> };
  want: { allowed: boolean; policy: string | null; rule?: number | null };
}

const PRODUCTPAGE_WL = { namespace: "default", labels: { app: "productpage", version: "v1" } };
const DETAILS_WL = { namespace: "default", labels: { app: "details", version: "v1" } };
const RATINGS_WL = { namespace: "default", labels: { app: "ratings", version: "v1" } };
const HTTPBIN_WL = { namespace: "foo", labels: { app: "httpbin", version: "v1" } };

const ROWS: Row[] = [
  // HTTP: allow-nothing first, then one viewer policy per service.
  {
    page: "HTTP",
    what: "allow-nothing alone: a GET to productpage is denied",
    policies: [ALLOW_NOTHING],
    workload: PRODUCTPAGE_WL,
    request: {},
    want: { allowed: false, policy: null },
  },
  {
    page: "HTTP",
    what: "productpage-viewer: any caller's GET is allowed, even plaintext",
    policies: [ALLOW_NOTHING, PRODUCTPAGE_VIEWER],
    workload: PRODUCTPAGE_WL,
    request: { principal: undefined },
    want: { allowed: true, policy: "default/productpage-viewer", rule: 0 },
  },
  {
    page: "HTTP",
    what: "productpage-viewer: a POST is still denied",
    policies: [ALLOW_NOTHING, PRODUCTPAGE_VIEWER],
    workload: PRODUCTPAGE_WL,
    request: { method: "POST" },
    want: { allowed: false, policy: null },
  },
  {
    page: "HTTP",
    what: "details-viewer: productpage's principal may GET details",
    policies: [ALLOW_NOTHING, DETAILS_VIEWER],
    workload: DETAILS_WL,
    request: { principal: PRODUCTPAGE },
    want: { allowed: true, policy: "default/details-viewer", rule: 0 },
  },
  {
    page: "HTTP",
    what: "details-viewer: reviews' principal may not",
    policies: [ALLOW_NOTHING, DETAILS_VIEWER],
    workload: DETAILS_WL,
    request: { principal: REVIEWS },
    want: { allowed: false, policy: null },
  },
  {
    page: "HTTP",
    what: "details-viewer: plaintext has no principal and is denied",
    policies: [ALLOW_NOTHING, DETAILS_VIEWER],
    workload: DETAILS_WL,
    request: { principal: undefined },
    want: { allowed: false, policy: null },
  },
  {
    page: "HTTP",
    what: "ratings-viewer does not select details: details stays allow-nothing",
    policies: [ALLOW_NOTHING, RATINGS_VIEWER],
    workload: DETAILS_WL,
    request: { principal: REVIEWS },
    want: { allowed: false, policy: null },
  },
  {
    page: "HTTP",
    what: "ratings-viewer: reviews' principal may GET ratings",
    policies: [ALLOW_NOTHING, RATINGS_VIEWER],
    workload: RATINGS_WL,
    request: { principal: REVIEWS },
    want: { allowed: true, policy: "default/ratings-viewer", rule: 0 },
  },
  // REF: deny-all and namespace-wide allow by source namespace (from the principal).
  {
    page: "REF",
    what: "deny-all beats any ALLOW policy",
    policies: [DENY_ALL, PRODUCTPAGE_VIEWER],
    workload: PRODUCTPAGE_WL,
    request: {},
    want: { allowed: false, policy: "default/deny-all", rule: 0 },
  },
  {
    page: "REF",
    what: "namespace-wide allow: a caller from foo reaches httpbin",
    policies: [FOO_FROM_FOO],
    workload: HTTPBIN_WL,
    request: { principal: SLEEP_FOO },
    want: { allowed: true, policy: "foo/allow-foo", rule: 0 },
  },
  {
    page: "REF",
    what: "namespace-wide allow: a caller from default does not",
    policies: [FOO_FROM_FOO],
    workload: HTTPBIN_WL,
    request: { principal: PRODUCTPAGE },
    want: { allowed: false, policy: null },
  },
  {
    page: "REF",
    what: "namespace-wide allow does not reach another namespace's workload",
    policies: [FOO_FROM_FOO],
    workload: PRODUCTPAGE_WL,
    request: { principal: PRODUCTPAGE },
    want: { allowed: true, policy: null },
  },
  // DENY: GET denied unless x-token is admin; an ALLOW on /ip beside it.
  {
    page: "DENY",
    what: "GET without x-token is denied",
    policies: [DENY_GET_UNLESS_ADMIN],
    workload: HTTPBIN_WL,
    request: {},
    want: { allowed: false, policy: "foo/deny-method-get", rule: 0 },
  },
  {
    page: "DENY",
    what: "GET with x-token: admin is not",
    policies: [DENY_GET_UNLESS_ADMIN],
    workload: HTTPBIN_WL,
    request: { headers: { "x-token": "admin" } },
    want: { allowed: true, policy: null },
  },
  {
    page: "DENY",
    what: "GET with another token is denied",
    policies: [DENY_GET_UNLESS_ADMIN],
    workload: HTTPBIN_WL,
    request: { headers: { "x-token": "guest" } },
    want: { allowed: false, policy: "foo/deny-method-get" },
  },
  {
    page: "DENY",
    what: "a POST is not matched by the DENY",
    policies: [DENY_GET_UNLESS_ADMIN],
    workload: HTTPBIN_WL,
    request: { method: "POST" },
    want: { allowed: true, policy: null },
  },
  {
    page: "DENY",
    what: "with allow-path-ip: admin GET /ip is allowed by the ALLOW",
    policies: [DENY_GET_UNLESS_ADMIN, ALLOW_PATH_IP],
    workload: HTTPBIN_WL,
    request: { path: "/ip", headers: { "x-token": "admin" } },
    want: { allowed: true, policy: "foo/allow-path-ip", rule: 0 },
  },
  {
    page: "DENY",
    what: "with allow-path-ip: admin GET /headers matches no ALLOW",
    policies: [DENY_GET_UNLESS_ADMIN, ALLOW_PATH_IP],
    workload: HTTPBIN_WL,
    request: { path: "/headers", headers: { "x-token": "admin" } },
    want: { allowed: false, policy: null },
  },
  {
    page: "DENY",
    what: "with allow-path-ip: a non-admin GET /ip is denied first",
    policies: [DENY_GET_UNLESS_ADMIN, ALLOW_PATH_IP],
    workload: HTTPBIN_WL,
    request: { path: "/ip" },
    want: { allowed: false, policy: "foo/deny-method-get" },
  },
  // REF: notPaths (query strings ignored).
  {
    page: "REF",
    what: "notPaths: /status is allowed",
    policies: [ALLOW_EXCEPT_ADMIN],
    workload: HTTPBIN_WL,
    request: { path: "/status?x=1" },
    want: { allowed: true, policy: "foo/allow-except-admin", rule: 0 },
  },
  {
    page: "REF",
    what: "notPaths: /admin/users is not",
    policies: [ALLOW_EXCEPT_ADMIN],
    workload: HTTPBIN_WL,
    request: { path: "/admin/users" },
    want: { allowed: false, policy: null },
  },
  // IP: ipBlocks from the remote address (a single address and a CIDR).
  {
    page: "IP",
    what: "ipBlocks: the listed address is allowed",
    policies: [IP_ALLOWLIST],
    workload: HTTPBIN_WL,
    request: { sourceIp: "203.0.113.7" },
    want: { allowed: true, policy: "foo/ip-allowlist", rule: 0 },
  },
  {
    page: "IP",
    what: "ipBlocks: an address in the CIDR (IPv4-mapped) is allowed",
    policies: [IP_ALLOWLIST],
    workload: HTTPBIN_WL,
    request: { sourceIp: "::ffff:198.51.100.42" },
    want: { allowed: true, policy: "foo/ip-allowlist" },
  },
  {
    page: "IP",
    what: "ipBlocks: any other address is denied",
    policies: [IP_ALLOWLIST],
    workload: HTTPBIN_WL,
    request: { sourceIp: "203.0.113.8" },
    want: { allowed: false, policy: null },
  },
];

function request(r: Row["request"]): AuthzRequest {
  const headers = r.headers ?? {};
  return {
    principal: SLEEP_FOO,
    sourceIp: "10.0.0.1",
    host: "svc:9080",
    method: "GET",
    path: "/",
    port: 9080,
    header: (n) => headers[n],
    ...r,
  };
}

describe("AuthorizationPolicy: Istio's authorization tasks, request by request", () => {
  it.each(ROWS)("$page: $what", (row) => {
    const policies: NamedPolicy<AuthorizationPolicySpec>[] = row.policies.map(([name, namespace, spec]) => ({
      name,
      namespace,
      spec,
    }));
    const d = new Authorizer(policies, row.workload).decide(request(row.request));
    expect({ allowed: d.allowed, policy: d.policy }).toEqual({
      allowed: row.want.allowed,
      policy: row.want.policy,
    });
    if (row.want.rule !== undefined) expect(d.rule).toBe(row.want.rule);
  });

  it("a decision is the same object every time: nothing is allocated per request", () => {
    const a = new Authorizer(
      [ALLOW_NOTHING, DETAILS_VIEWER].map(([name, namespace, spec]) => ({ name, namespace, spec })),
      DETAILS_WL,
    );
    const r = request({ principal: PRODUCTPAGE });
    expect(a.decide(r)).toBe(a.decide(r));
    expect(a.decide(request({ principal: REVIEWS }))).toBe(a.decide(request({ principal: undefined })));
  });
});
