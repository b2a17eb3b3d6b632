import { describe, expect, it } from "vitest";
import { SUPPORTED_KINDS } from "../../src/index.js";
import { errors, ids, load, report, warnings, yaml } from "./helpers.js";

/** A minimal valid spec for each kind, so only apiVersion varies. */
const SPECS: Record<string, string> = {
  VirtualService: "{hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}",
  DestinationRule: "{host: reviews}",
  Gateway:
    "{selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]}",
  ServiceEntry: "{hosts: [reviews], ports: [{number: 9080, name: http}]}",
  WorkloadEntry: "{address: 10.0.0.1, labels: {app: reviews}}",
  WorkloadGroup: "{metadata: {labels: {app: reviews}}}",
  TrafficLabel: "{rules: [{labels: [{name: x-asm-prefer-tag, valueFrom: [$localLabel]}]}]}",
  PeerAuthentication: "{mtls: {mode: STRICT}}",
  AuthorizationPolicy: "{action: DENY, rules: [{from: [{source: {namespaces: [dev]}}]}]}",
};

function resource(apiVersion: string, kind: string): string {
  return `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: one}\nspec: ${SPECS[kind]}\n`;
}

describe("kinds and apiVersions", () => {
  it("knows exactly the nine kinds of the spec (sections 2 and 12)", () => {
    expect([...SUPPORTED_KINDS].sort()).toEqual([
      "AuthorizationPolicy",
      "DestinationRule",
      "Gateway",
      "PeerAuthentication",
      "ServiceEntry",
      "TrafficLabel",
      "VirtualService",
      "WorkloadEntry",
      "WorkloadGroup",
    ]);
  });

  const networking = [
    "VirtualService",
    "DestinationRule",
    "Gateway",
    "ServiceEntry",
    "WorkloadEntry",
    "WorkloadGroup",
  ];
  const cases: [string, string][] = [
    ["istio.alibabacloud.com/v1beta1", "TrafficLabel"],
    ["istio.alibabacloud.com/v1", "TrafficLabel"],
    ...networking.flatMap((k) =>
      ["v1alpha3", "v1beta1", "v1"].map((v): [string, string] => [`networking.istio.io/${v}`, k]),
    ),
    ...["PeerAuthentication", "AuthorizationPolicy"].flatMap((k) =>
      ["v1beta1", "v1"].map((v): [string, string] => [`security.istio.io/${v}`, k]),
    ),
  ];
  it.each(cases)("accepts %s %s", (apiVersion, kind) => {
    const r = load(resource(apiVersion, kind));
    expect(errors(r.diagnostics)).toEqual([]);
    expect(ids(r)).toEqual([`${kind}/default/one`]);
    expect(r.resources[0]!.apiVersion).toBe(apiVersion);
  });

  it.each([
    ["networking.istio.io/v1alpha2", "VirtualService"],
    ["istio.alibabacloud.com/v1beta1", "DestinationRule"],
    ["networking.istio.io/v1", "TrafficLabel"],
    ["istio.alibabacloud.com/v1alpha1", "TrafficLabel"],
    ["security.istio.io/v1alpha1", "AuthorizationPolicy"],
    ["security.istio.io/v2", "PeerAuthentication"],
    ["networking.istio.io/v1", "AuthorizationPolicy"],
  ])("rejects apiVersion %s for %s, at the apiVersion field", (apiVersion, kind) => {
    const want =
      kind === "TrafficLabel"
        ? "istio.alibabacloud.com/v1beta1, istio.alibabacloud.com/v1"
        : kind === "AuthorizationPolicy" || kind === "PeerAuthentication"
          ? "security.istio.io/v1beta1, security.istio.io/v1"
          : "networking.istio.io/v1alpha3, networking.istio.io/v1beta1, networking.istio.io/v1";
    expect(report(resource(apiVersion, kind))).toEqual([
      `t.yaml:1:1 ${kind}/default/one: apiVersion: "${apiVersion}": ${kind} needs one of ${want}`,
    ]);
  });

  it("rejects a known kind without apiVersion, at the document start", () => {
    const text = yaml`
      # routes for reviews
      kind: VirtualService
      metadata: {name: reviews}
      spec: {hosts: [reviews]}
    `;
    expect(report(text)).toEqual([
      "t.yaml:2:1 VirtualService/default/reviews: apiVersion: missing: VirtualService needs one of networking.istio.io/v1alpha3, networking.istio.io/v1beta1, networking.istio.io/v1",
    ]);
  });

  it("rejects a document without kind, naming it <no-kind>", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      metadata: {name: reviews}
      spec: {hosts: [reviews]}
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([
      {
        severity: "error",
        file: "t.yaml",
        line: 1,
        col: 1,
        resource: "<no-kind>/default/reviews",
        path: "kind",
        message: "is required",
      },
    ]);
    expect(r.resources).toEqual([]);
  });

  it("skips other kinds with a warning at their kind field, so Kubernetes folders can be pointed at", () => {
    const text = yaml`
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: reviews-v1, namespace: bookinfo}
      spec: {replicas: 1, anything: [goes, here]}
      ---
      apiVersion: v1
      kind: Service
      metadata: {name: reviews}
      spec: {ports: [{port: 9080}]}
    `;
    const r = load(text);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toEqual([
      "t.yaml:2:1 Deployment/bookinfo/reviews-v1: kind: warning: kind Deployment is not used by Lanecar; skipped",
      "t.yaml:7:1 Service/default/reviews: kind: warning: kind Service is not used by Lanecar; skipped",
    ]);
    expect(r.resources).toEqual([]);
  });
});

describe("metadata", () => {
  it("defaults metadata.namespace to the namespace option, and keeps an explicit one", () => {
    const text = `${resource("networking.istio.io/v1", "DestinationRule")}---\n${resource(
      "networking.istio.io/v1",
      "DestinationRule",
    ).replace("{name: one}", "{name: one, namespace: shop}")}`;
    expect(ids(load(text, { namespace: "bookinfo" }))).toEqual([
      "DestinationRule/bookinfo/one",
      "DestinationRule/shop/one",
    ]);
    expect(ids(load(text))).toEqual(["DestinationRule/default/one", "DestinationRule/shop/one"]);
  });

  it("uses the default namespace in the resource id of diagnostics", () => {
    const text = resource("networking.istio.io/v1", "DestinationRule").replace(
      "{host: reviews}",
      "{host: 7}",
    );
    expect(report(text, { namespace: "bookinfo" })).toEqual([
      "t.yaml:4:8 DestinationRule/bookinfo/one: spec.host: must be a string, got a number",
    ]);
  });

  it("requires metadata.name and checks it is a DNS-1123 name", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {namespace: shop}
      spec: {host: reviews}
      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata:
        name: Reviews_V1
      spec: {host: reviews}
    `;
    expect(report(text)).toEqual([
      "t.yaml:3:1 DestinationRule/shop/<unnamed>: metadata.name: is required",
      't.yaml:9:3 DestinationRule/default/Reviews_V1: metadata.name: "Reviews_V1" is not a valid resource name (lower-case DNS-1123)',
    ]);
  });

  it("checks metadata.namespace is a DNS-1123 label", () => {
    const text = resource("networking.istio.io/v1", "DestinationRule").replace(
      "{name: one}",
      "{name: one, namespace: My_NS}",
    );
    expect(report(text)).toEqual([
      't.yaml:3:23 DestinationRule/My_NS/one: metadata.namespace: "My_NS" is not a valid namespace',
    ]);
  });

  it("requires spec, at the document start", () => {
    expect(report("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n")).toEqual(
      ["t.yaml:1:1 VirtualService/default/r: spec: is required"],
    );
  });

  it("skips security.istio.io kinds other than PeerAuthentication and AuthorizationPolicy", () => {
    const text = yaml`
      apiVersion: security.istio.io/v1
      kind: RequestAuthentication
      metadata: {name: jwt}
      spec: {jwtRules: [{issuer: issuer-foo}]}
    `;
    const r = load(text);
    expect(r.diagnostics.map((d) => d.severity)).toEqual(["warning"]);
    expect(warnings(r.diagnostics)).toEqual([
      "t.yaml:2:1 RequestAuthentication/default/jwt: kind: warning: kind RequestAuthentication is not used by Lanecar; skipped",
    ]);
  });

  it("skips a kind named like an Object.prototype property instead of failing (kind: constructor)", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: constructor
      metadata: {name: x}
      spec: {}
    `;
    expect(report(text)).toEqual([
      "t.yaml:2:1 constructor/default/x: kind: warning: kind constructor is not used by Lanecar; skipped",
    ]);
  });

  it("skips kinds of other API groups even when the name is ours (Gateway API Gateway, HTTPRoute)", () => {
    const text = yaml`
      apiVersion: gateway.networking.k8s.io/v1
      kind: Gateway
      metadata: {name: bookinfo-gateway}
      spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
      ---
      apiVersion: gateway.networking.k8s.io/v1
      kind: HTTPRoute
      metadata: {name: bookinfo}
      spec: {parentRefs: [{name: bookinfo-gateway}]}
    `;
    const r = load(text);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toEqual([
      "t.yaml:2:1 Gateway/default/bookinfo-gateway: kind: warning: gateway.networking.k8s.io/v1 Gateway is not used by Lanecar; skipped",
      "t.yaml:7:1 HTTPRoute/default/bookinfo: kind: warning: kind HTTPRoute is not used by Lanecar; skipped",
    ]);
    expect(r.resources).toEqual([]);
  });

  it("reads the items of a kind: List (kubectl get -o yaml), with positions inside the list", () => {
    const text = yaml`
      apiVersion: v1
      kind: List
      items:
      - apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: httpbin}
        spec:
          host: httpbin
      - apiVersion: v1
        kind: Service
        metadata: {name: httpbin}
      - apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: broken}
        spec:
          host: 7
      metadata: {resourceVersion: ""}
    `;
    const r = load(text);
    expect(ids(r)).toEqual(["DestinationRule/default/httpbin"]);
    expect(report(text)).toEqual([
      "t.yaml:10:3 Service/default/httpbin: kind: warning: kind Service is not used by Lanecar; skipped",
      "t.yaml:16:5 DestinationRule/default/broken: spec.host: must be a string, got a number",
    ]);
  });
});
