import { describe, expect, it } from "vitest";
import { load, report, yaml } from "./helpers.js";

describe("ServiceEntry", () => {
  it("rejects hosts that are not DNS names (a host becomes a Host header: no CR/LF, no spaces)", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: evil}
      spec:
        hosts: ["ok.example.com", "*.wild.example.com", "evil\r\nx-injected: 1", "two words"]
        ports: [{number: 80, name: http}]
    `;
    const out = report(text);
    expect(out).toHaveLength(2);
    expect(out[0]).toContain("spec.hosts[2]: ");
    expect(out[1]).toContain('spec.hosts[3]: "two words" is not a valid host');
  });

  it("reports an endpoint port whose name no service port declares", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        location: MESH_INTERNAL
        ports:
        - {number: 9080, name: http}
        endpoints:
        - address: 10.0.0.1
          ports: {http: 9080, grpc: 9090}
          labels: {version: v1}
    `;
    expect(report(text)).toEqual([
      't.yaml:11:25 ServiceEntry/default/reviews: spec.endpoints[0].ports.grpc: no service port is named "grpc"',
    ]);
  });

  it("reports an out-of-range port once, without claiming the list is empty", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        ports: [{number: 70000, name: http}]
    `;
    expect(report(text)).toEqual([
      "t.yaml:6:12 ServiceEntry/default/reviews: spec.ports[0].number: must be <= 65535",
    ]);
  });

  it("requires a non-empty ports list, and rejects duplicate port names", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: reviews}
      spec: {hosts: [reviews], ports: []}
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: ratings}
      spec: {hosts: [ratings]}
      ---
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: details}
      spec:
        hosts: [details]
        ports: [{number: 9080, name: http}, {number: 9081, name: http}]
    `;
    expect(report(text)).toEqual([
      "t.yaml:4:26 ServiceEntry/default/reviews: spec.ports: must not be empty",
      "t.yaml:9:1 ServiceEntry/default/ratings: spec.ports: is required",
      't.yaml:16:54 ServiceEntry/default/details: spec.ports[1].name: duplicate port name "http"',
    ]);
  });

  it("reports unknown location/resolution values and a bad address", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        location: MESH_EVERYWHERE
        resolution: MAGIC
        ports: [{number: 9080, name: http}]
        endpoints:
        - {address: "10.0.0.1 10.0.0.2"}
        - {address: "unix:///var/run/reviews.sock"}
    `;
    expect(report(text)).toEqual([
      't.yaml:6:3 ServiceEntry/default/reviews: spec.location: must be one of MESH_EXTERNAL, MESH_INTERNAL; got "MESH_EVERYWHERE"',
      't.yaml:7:3 ServiceEntry/default/reviews: spec.resolution: must be one of NONE, STATIC, DNS, DNS_ROUND_ROBIN; got "MAGIC"',
      't.yaml:10:6 ServiceEntry/default/reviews: spec.endpoints[0].address: "10.0.0.1 10.0.0.2" is not an IP address or host name',
      "t.yaml:11:6 ServiceEntry/default/reviews: spec.endpoints[1].address: warning: unix domain socket endpoints are not supported by Lanecar; ignored",
    ]);
  });

  it("rejects endpoints together with workloadSelector and warns about non-HTTP protocols", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: ServiceEntry
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        ports: [{number: 9080, name: grpc, protocol: GRPC}]
        workloadSelector: {labels: {app: reviews}}
        endpoints: [{address: 10.0.0.1}]
    `;
    expect(report(text)).toEqual([
      "t.yaml:6:38 ServiceEntry/default/reviews: spec.ports[0].protocol: warning: GRPC is not supported by Lanecar; ignored: this port is proxied as HTTP/1.1",
      "t.yaml:7:3 ServiceEntry/default/reviews: spec.workloadSelector: cannot be set together with endpoints",
    ]);
  });
});

describe("WorkloadEntry and WorkloadGroup", () => {
  it("normalizes a WorkloadEntry (IPv6 brackets dropped, weight defaulted)", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: WorkloadEntry
      metadata: {name: reviews-v1}
      spec: {address: "[::1]", ports: {http: 19083}, labels: {app: reviews, version: v1}}
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([]);
    expect(r.resources[0]!.spec).toEqual({
      address: "::1",
      ports: { http: 19083 },
      labels: { app: "reviews", version: "v1" },
      weight: 1,
    });
  });

  it("reports a WorkloadEntry with no address and a port out of range", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: WorkloadEntry
      metadata: {name: reviews-v1}
      spec:
        ports: {http: 0}
        labels: {app: reviews}
    `;
    expect(report(text)).toEqual([
      "t.yaml:4:1 WorkloadEntry/default/reviews-v1: spec.address: is required",
      "t.yaml:5:11 WorkloadEntry/default/reviews-v1: spec.ports.http: must be >= 1",
    ]);
  });

  it("checks WorkloadGroup probes", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: WorkloadGroup
      metadata: {name: reviews}
      spec:
        metadata: {labels: {app: reviews}}
        probe:
          httpGet: {path: healthz}
          periodSeconds: 0
          failureThreshold: three
    `;
    expect(report(text)).toEqual([
      "t.yaml:7:5 WorkloadGroup/default/reviews: spec.probe.httpGet.port: is required",
      "t.yaml:7:15 WorkloadGroup/default/reviews: spec.probe.httpGet.path: must start with /",
      "t.yaml:8:5 WorkloadGroup/default/reviews: spec.probe.periodSeconds: must be >= 1",
      "t.yaml:9:5 WorkloadGroup/default/reviews: spec.probe.failureThreshold: must be an integer, got a string",
    ]);
  });
});

describe("Gateway", () => {
  it("requires servers with a port and hosts, and warns about non-HTTP servers", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: Gateway
      metadata: {name: bookinfo-gateway}
      spec:
        selector: {istio: ingressgateway}
        servers:
        - port: {number: 443, name: https, protocol: HTTPS}
          hosts: ["*"]
        - hosts: ["*"]
        - port: {number: 8080, name: http, protocol: SMTP}
          hosts: []
    `;
    expect(report(text)).toEqual([
      "t.yaml:7:38 Gateway/default/bookinfo-gateway: spec.servers[0].port.protocol: warning: HTTPS servers are not supported by Lanecar; ignored: the gateway serves HTTP/1.1 only",
      "t.yaml:9:5 Gateway/default/bookinfo-gateway: spec.servers[1].port: is required",
      't.yaml:10:38 Gateway/default/bookinfo-gateway: spec.servers[2].port.protocol: unknown protocol "SMTP" (Istio knows HTTP, HTTPS, HTTP2, HTTP_PROXY, GRPC, GRPC-Web, TCP, TLS, UDP, Mongo, Redis, MySQL)',
      "t.yaml:11:5 Gateway/default/bookinfo-gateway: spec.servers[2].hosts: must not be empty",
    ]);
  });
});
