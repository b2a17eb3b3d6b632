/**
 * PeerAuthentication and AuthorizationPolicy as config kinds: Istio's documented examples load
 * without errors, the invalid shapes of authz/authorization-policy.test.ts give their diagnostics
 * at the line and column of the field, and the valid policies reach the snapshot.
 */
import { describe, expect, it } from "vitest";
import { buildSnapshot } from "../../src/index.js";
import { errors, ids, load, report, warnings, yaml } from "./helpers.js";

/** Examples of Istio's AuthorizationPolicy and PeerAuthentication reference pages and tasks. */
const ISTIO_EXAMPLES = yaml`
  apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: httpbin, namespace: foo}
  spec:
    selector:
      matchLabels: {app: httpbin, version: v1}
    action: ALLOW
    rules:
    - from:
      - source:
          principals: ["cluster.local/ns/default/sa/sleep"]
      - source:
          namespaces: ["test"]
      to:
      - operation:
          methods: ["GET"]
          paths: ["/info*"]
      - operation:
          methods: ["POST"]
          paths: ["/data"]
      when:
      - key: request.auth.claims[iss]
        values: ["https://accounts.google.com"]
  ---
  apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: allow-nothing, namespace: foo}
  spec: {}
  ---
  apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: deny-all, namespace: foo}
  spec:
    action: DENY
    rules:
    - {}
  ---
  apiVersion: security.istio.io/v1beta1
  kind: AuthorizationPolicy
  metadata: {name: allow-all, namespace: foo}
  spec:
    rules:
    - {}
  ---
  apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: deny-method-get, namespace: foo}
  spec:
    selector:
      matchLabels: {app: httpbin}
    action: DENY
    rules:
    - from:
      - source:
          notNamespaces: ["foo"]
      to:
      - operation:
          methods: ["GET"]
          ports: ["8000"]
      when:
      - key: request.headers[x-token]
        notValues: ["admin"]
  ---
  apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: ingress-policy, namespace: istio-system}
  spec:
    action: ALLOW
    rules:
    - from:
      - source:
          ipBlocks: ["1.2.3.4", "5.6.7.0/24"]
  ---
  apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: audit, namespace: foo}
  spec:
    action: AUDIT
    rules:
    - to:
      - operation:
          paths: ["/user/profile/*"]
  ---
  apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: default, namespace: istio-system}
  spec:
    mtls:
      mode: STRICT
  ---
  apiVersion: security.istio.io/v1beta1
  kind: PeerAuthentication
  metadata: {name: default, namespace: foo}
  spec:
    mtls:
      mode: PERMISSIVE
  ---
  apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: finance, namespace: foo}
  spec:
    selector:
      matchLabels: {app: finance}
    mtls:
      mode: STRICT
    portLevelMtls:
      8080:
        mode: DISABLE
`;

describe("security.istio.io kinds: Istio's documented examples", () => {
  it("load without errors; what Lanecar cannot evaluate (JWT claims) is a warning at its line", () => {
    const r = load(ISTIO_EXAMPLES);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toEqual([
      't.yaml:22:7 AuthorizationPolicy/foo/httpbin: spec.rules[0].when[0].key: warning: "request.auth.claims[iss]" is not supported: an ALLOW rule using it matches nothing, a DENY rule ignores it',
    ]);
    expect(ids(r)).toEqual([
      "AuthorizationPolicy/foo/httpbin",
      "AuthorizationPolicy/foo/allow-nothing",
      "AuthorizationPolicy/foo/deny-all",
      "AuthorizationPolicy/foo/allow-all",
      "AuthorizationPolicy/foo/deny-method-get",
      "AuthorizationPolicy/istio-system/ingress-policy",
      "AuthorizationPolicy/foo/audit",
      "PeerAuthentication/istio-system/default",
      "PeerAuthentication/foo/default",
      "PeerAuthentication/foo/finance",
    ]);
  });

  it("are kept in the snapshot as policies per kind, with their specs as written", () => {
    const { snapshot, diagnostics } = buildSnapshot([{ file: "t.yaml", text: ISTIO_EXAMPLES }]);
    expect(errors(diagnostics)).toEqual([]);
    expect(snapshot!.authorizationPolicies.map((p) => `${p.namespace}/${p.name}`)).toHaveLength(7);
    expect(snapshot!.authorizationPolicies[2]).toEqual({
      namespace: "foo",
      name: "deny-all",
      spec: { action: "DENY", rules: [{}] },
    });
    expect(snapshot!.peerAuthentications.find((p) => p.name === "finance")!.spec).toEqual({
      selector: { matchLabels: { app: "finance" } },
      mtls: { mode: "STRICT" },
      portLevelMtls: { "8080": { mode: "DISABLE" } },
    });
  });
});

/** One AuthorizationPolicy whose `spec:` is `body` (indented by the caller), on lines 5 onward. */
function ap(body: string): string {
  return `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: foo}\nspec:\n${body}`;
}

describe("AuthorizationPolicy: invalid shapes give diagnostics at their field", () => {
  it.each([
    ["  action: PERMIT\n", 'spec.action: "PERMIT" is not one of ALLOW, DENY, AUDIT, CUSTOM', "5:3"],
    [
      "  rules:\n  - to:\n    - operation: {paths: [/a*b]}\n",
      'spec.rules[0].to[0].operation.paths[0]: "/a*b": "*" is allowed only as the whole value, a prefix or a suffix',
      "7:27",
    ],
    [
      "  rules:\n  - from:\n    - source: {ipBlocks: [1.2.3.4/40]}\n",
      'spec.rules[0].from[0].source.ipBlocks[0]: "1.2.3.4/40" has an invalid prefix length',
      "7:27",
    ],
    [
      "  rules:\n  - from:\n    - source: {ipBlocks: [nope]}\n",
      'spec.rules[0].from[0].source.ipBlocks[0]: "nope" is not an IP address or CIDR block',
      "7:27",
    ],
    [
      "  rules:\n  - to:\n    - operation: {ports: [http]}\n",
      'spec.rules[0].to[0].operation.ports[0]: "http" is not a port number',
      "7:27",
    ],
    [
      "  rules:\n  - when:\n    - key: request.headers[x]\n",
      "spec.rules[0].when[0]: at least one of values or notValues must be set for key request.headers[x]",
      "7:7",
    ],
    [
      "  rules:\n  - when:\n    - key: nonsense.key\n      values: [a]\n",
      'spec.rules[0].when[0].key: unknown attribute "nonsense.key"',
      "7:7",
    ],
    ["  provider: {name: x}\n", "spec.provider: only allowed with action CUSTOM", "5:3"],
    ["  action: CUSTOM\n", "spec.provider: is required with action CUSTOM", "4:1"],
    ["  rules:\n  - from:\n    - source: {}\n", "spec.rules[0].from[0].source: must not be empty", "7:7"],
    [
      "  rules:\n  - to:\n    - operation: {methods: GET}\n",
      "spec.rules[0].to[0].operation.methods: must be a list, got a string",
      "7:19",
    ],
    ["  rules:\n  - from:\n    - {}\n", "spec.rules[0].from[0].source: must be set", "7:7"],
    ["  rulez: []\n", "spec.rulez: unknown field", "5:3"],
    [
      "  selector: {matchLabels: {app: a}}\n  targetRefs: [{kind: Gateway, name: gw}]\n",
      "spec.selector: only one of selector or targetRef(s) can be set",
      "5:3",
    ],
  ])("%j → %s", (body, message, at) => {
    expect(errors(load(ap(body)).diagnostics)).toEqual([
      `t.yaml:${at} AuthorizationPolicy/foo/p: ${message}`,
    ]);
  });

  it.each([
    [
      "  rules:\n  - when:\n    - key: request.auth.claims[iss]\n      values: [a]\n",
      'spec.rules[0].when[0].key: warning: "request.auth.claims[iss]" is not supported: an ALLOW rule using it matches nothing, a DENY rule ignores it',
      "7:7",
    ],
    [
      "  action: CUSTOM\n  provider: {name: ext-authz}\n  rules:\n  - to:\n    - operation: {paths: [/admin]}\n",
      "spec.action: warning: CUSTOM (external authorization) is not supported; requests it matches are denied (fail closed)",
      "5:3",
    ],
  ])("%j → warning %s, and the policy is kept", (body, message, at) => {
    const r = load(ap(body));
    expect(report(ap(body))).toEqual([`t.yaml:${at} AuthorizationPolicy/foo/p: ${message}`]);
    expect(ids(r)).toEqual(["AuthorizationPolicy/foo/p"]);
  });
});

describe("PeerAuthentication: invalid shapes and ambiguous levels", () => {
  it("reports modes, ports and a port level without selector at their lines", () => {
    const text = yaml`
      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: {name: default, namespace: foo}
      spec:
        mtls: {mode: ON}
        portLevelMtls:
          http:
            mode: DISABLE
          8080:
            mode: OFF
    `;
    expect(report(text)).toEqual([
      't.yaml:5:10 PeerAuthentication/foo/default: spec.mtls.mode: "ON" is not one of UNSET, DISABLE, PERMISSIVE, STRICT',
      "t.yaml:6:3 PeerAuthentication/foo/default: spec.portLevelMtls: requires a workload selector",
      't.yaml:7:5 PeerAuthentication/foo/default: spec.portLevelMtls.http: "http" is not a port number',
      't.yaml:10:7 PeerAuthentication/foo/default: spec.portLevelMtls.8080.mode: "OFF" is not one of UNSET, DISABLE, PERMISSIVE, STRICT',
    ]);
  });

  it("two namespace-wide policies in one namespace: the first by name applies, the other is named in a warning", () => {
    const text = yaml`
      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: {name: strict, namespace: foo}
      spec: {mtls: {mode: STRICT}}
      ---
      apiVersion: security.istio.io/v1
      kind: PeerAuthentication
      metadata: {name: default, namespace: foo}
      spec: {mtls: {mode: PERMISSIVE}}
    `;
    expect(report(text)).toEqual([
      "t.yaml:4:1 PeerAuthentication/foo/strict: spec: warning: PeerAuthentication/foo/default is also a PeerAuthentication without selector in namespace foo; the first by name applies, this one is ignored",
    ]);
  });
});
