/**
 * What Istio accepts, Lanecar accepts (with a warning when it does not act on it), and what Istio
 * rejects, Lanecar rejects: protocol names, endpoints Lanecar cannot reach, delegation, newer
 * DestinationRule fields, deprecated fields, gRPC aborts, and a Gateway port without a name.
 */
import { describe, expect, it } from "vitest";
import { errors, ids, load, report, warnings, yaml } from "./helpers.js";

function serviceEntry(protocol: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.com]
  ports: [{number: 9000, name: p, protocol: ${protocol}}]
  resolution: DNS
`;
}

function gateway(port: string, tls = ""): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers: [{port: ${port}, hosts: ["*"]${tls}}]
`;
}

describe("protocol names (Istio's protocol.Parse, case-insensitive)", () => {
  const names = [
    "GRPC",
    "GRPC-WEB",
    "grpc-web",
    "HTTP2",
    "HTTP_PROXY",
    "Mongo",
    "REDIS",
    "mysql",
    "TCP",
    "TLS",
    "UDP",
  ];
  it.each(names)("accepts %s on a ServiceEntry port and a Gateway server, with a warning", (name) => {
    const se = load(serviceEntry(name));
    expect(errors(se.diagnostics)).toEqual([]);
    expect(ids(se)).toEqual(["ServiceEntry/default/db"]);
    expect(warnings(se.diagnostics).join("\n")).toMatch(
      /spec\.ports\[0\]\.protocol: warning: .* is not supported by Lanecar; ignored/,
    );
    // Istio requires tls on a TLS server.
    const tls = name === "TLS" ? ", tls: {mode: PASSTHROUGH}" : "";
    const gw = load(gateway(`{number: 443, name: p, protocol: ${name}}`, tls));
    expect(errors(gw.diagnostics)).toEqual([]);
    expect(warnings(gw.diagnostics).join("\n")).toMatch(
      /port\.protocol: warning: .* servers are not supported by Lanecar; ignored/,
    );
  });

  it("accepts HTTPS on a ServiceEntry port with a warning, and serves it on a Gateway with tls", () => {
    expect(warnings(load(serviceEntry("HTTPS")).diagnostics).join("\n")).toMatch(
      /spec\.ports\[0\]\.protocol: warning: HTTPS is not supported by Lanecar; ignored/,
    );
    const tls = ", tls: {mode: SIMPLE, credentialName: c}";
    expect(report(gateway("{number: 443, name: p, protocol: HTTPS}", tls))).toEqual([]);
    expect(report(gateway("{number: 443, name: p, protocol: https}", tls))).toEqual([]);
  });

  it("accepts http in any case with no warning, and rejects a name Istio does not know", () => {
    expect(report(serviceEntry("http"))).toEqual([]);
    expect(errors(load(serviceEntry("SMTP")).diagnostics)).toEqual([
      't.yaml:6:35 ServiceEntry/default/db: spec.ports[0].protocol: unknown protocol "SMTP" (Istio knows HTTP, HTTPS, HTTP2, HTTP_PROXY, GRPC, GRPC-Web, TCP, TLS, UDP, Mongo, Redis, MySQL)',
    ]);
  });

  it("rejects a Gateway server port without a name, as Istio does", () => {
    expect(errors(load(gateway("{number: 80, protocol: HTTP}")).diagnostics)).toEqual([
      "t.yaml:5:14 Gateway/default/gw: spec.servers[0].port.name: is required (as Istio)",
    ]);
  });
});

describe("endpoints Lanecar cannot reach", () => {
  it("warns about and leaves out unix:// endpoints and network endpoints without an address", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        ports: [{number: 9080, name: http}]
        endpoints:
        - {address: 10.0.0.1}
        - {address: "unix:///var/run/reviews.sock"}
        - {network: network2, ports: {http: 15443}}
      ---
      apiVersion: networking.istio.io/v1
      kind: WorkloadEntry
      metadata: {name: remote}
      spec: {network: vm-network, labels: {app: reviews}}
    `;
    const r = load(text);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toEqual([
      "t.yaml:9:6 ServiceEntry/default/reviews: spec.endpoints[1].address: warning: unix domain socket endpoints are not supported by Lanecar; ignored",
      "t.yaml:10:6 ServiceEntry/default/reviews: spec.endpoints[2].network: warning: an endpoint with a network and no address is reached through that network's gateway, which Lanecar does not do; ignored",
      "t.yaml:15:8 WorkloadEntry/default/remote: spec.network: warning: an endpoint with a network and no address is reached through that network's gateway, which Lanecar does not do; ignored",
    ]);
    const se = r.resources.find((x) => x.kind === "ServiceEntry")!;
    expect((se.spec as { endpoints: { address: string }[] }).endpoints.map((e) => e.address)).toEqual([
      "10.0.0.1",
    ]);
  });
});

describe("delegation", () => {
  it("ignores a delegate rule and a delegate VirtualService (no hosts) with warnings", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: root}
      spec:
        hosts: [reviews]
        http:
        - match: [{uri: {prefix: /productpage}}]
          delegate: {name: productpage, namespace: nsA}
        - route: [{destination: {host: reviews}}]
      ---
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: productpage}
      spec:
        http:
        - route: [{destination: {host: productpage}}]
    `;
    const r = load(text);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toEqual([
      "t.yaml:8:5 VirtualService/default/root: spec.http[0].delegate: warning: delegation is not supported by Lanecar; this rule is ignored",
      "t.yaml:9:28 VirtualService/default/root: spec.http[1].route[0].destination.host: warning: no ServiceEntry defines host reviews.default.svc.cluster.local; requests to it get 503 UH",
      "t.yaml:14:1 VirtualService/default/productpage: spec.hosts: warning: no hosts: a delegate VirtualService, which Lanecar does not support; ignored",
    ]);
    expect(ids(r)).toEqual(["VirtualService/default/root"]);
  });
});

describe("DestinationRule fields", () => {
  it("warns about newer fields it does not act on, and about the deprecated consecutiveErrors", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        trafficPolicy:
          retryBudget: {percent: {value: 20}}
          loadBalancer:
            simple: ROUND_ROBIN
            zoneAwareLbSetting: {enabled: true}
            warmup: {duration: 10s}
          outlierDetection: {consecutiveErrors: 3}
    `;
    const r = load(text);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toEqual([
      "t.yaml:7:5 DestinationRule/default/reviews: spec.trafficPolicy.retryBudget: warning: not supported by Lanecar; ignored",
      "t.yaml:10:7 DestinationRule/default/reviews: spec.trafficPolicy.loadBalancer.zoneAwareLbSetting: warning: not supported by Lanecar; ignored",
      "t.yaml:11:7 DestinationRule/default/reviews: spec.trafficPolicy.loadBalancer.warmup: warning: not supported by Lanecar; ignored",
      "t.yaml:12:24 DestinationRule/default/reviews: spec.trafficPolicy.outlierDetection.consecutiveErrors: warning: deprecated (Istio); read as consecutive5xxErrors",
    ]);
    const spec = r.resources[0]!.spec as {
      trafficPolicy: { outlierDetection: { consecutive5xxErrors: number } };
    };
    expect(spec.trafficPolicy.outlierDetection.consecutive5xxErrors).toBe(3);
  });
});

describe("fault abort with grpcStatus (issue 12 item 1)", () => {
  it("is accepted with a warning and injects nothing (gRPC is not proxied)", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: ratings}
      spec:
        hosts: [ratings]
        http:
        - fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}}
          route: [{destination: {host: ratings}}]
    `;
    const r = load(text);
    expect(errors(r.diagnostics)).toEqual([]);
    expect(warnings(r.diagnostics)).toContain(
      "t.yaml:7:21 VirtualService/default/ratings: spec.http[0].fault.abort.grpcStatus: warning: gRPC and HTTP/2 are not proxied by Lanecar; this abort is ignored",
    );
    const vs = r.resources[0]!.spec as { http: { fault?: { abort?: unknown } }[] };
    expect(vs.http[0]!.fault?.abort).toBeUndefined();
  });
});
