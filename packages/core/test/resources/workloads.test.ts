import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { formatDiagnostic, type GatewaySpec } from "../../src/index.js";
import { errors, load, report, yaml } from "./helpers.js";

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
        - port: {number: 443, name: https, protocol: HTTP2}
          hosts: ["*"]
        - hosts: ["*"]
        - port: {number: 8080, name: http, protocol: SMTP}
          hosts: []
    `;
    expect(report(text)).toEqual([
      "t.yaml:7:38 Gateway/default/bookinfo-gateway: spec.servers[0].port.protocol: warning: HTTP2 servers are not supported by Lanecar; ignored: the gateway serves HTTP/1.1 and HTTPS only",
      "t.yaml:9:5 Gateway/default/bookinfo-gateway: spec.servers[1].port: is required",
      't.yaml:10:38 Gateway/default/bookinfo-gateway: spec.servers[2].port.protocol: unknown protocol "SMTP" (Istio knows HTTP, HTTPS, HTTP2, HTTP_PROXY, GRPC, GRPC-Web, TCP, TLS, UDP, Mongo, Redis, MySQL)',
      "t.yaml:11:5 Gateway/default/bookinfo-gateway: spec.servers[2].hosts: must not be empty",
    ]);
  });
});

describe("Gateway servers' tls (Istio ServerTLSSettings)", () => {
  // Servers as written below (continuation lines indented 6 more than the first), under spec.servers.
  const gw = (servers: string) =>
    [
      "apiVersion: networking.istio.io/v1",
      "kind: Gateway",
      "metadata: {name: edge}",
      "spec:",
      "  selector: {istio: ingressgateway}",
      "  servers:",
      ...servers.split("\n").map((l, i) => `  ${i === 0 ? l : l.slice(6)}`),
      "",
    ].join("\n");

  it("reads SIMPLE with credentialName, MUTUAL with files, and httpsRedirect on HTTP", () => {
    const r = load(
      gw(`- port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*"]
        tls: {httpsRedirect: true}
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: [a.example.com]
        tls: {mode: SIMPLE, credentialName: a-cred, minProtocolVersion: TLSV1_3, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256]}
      - port: {number: 443, name: https-b, protocol: https}
        hosts: [b.example.com]
        tls:
          mode: MUTUAL
          serverCertificate: /etc/certs/tls.crt
          privateKey: /etc/certs/tls.key
          caCertificates: /etc/certs/ca.crt
          subjectAltNames: [spiffe://cluster.local/ns/default/sa/client]`),
    );
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
    const spec = r.resources[0]!.spec as GatewaySpec;
    expect(spec.servers.map((s) => [s.port.protocol, s.tls])).toEqual([
      ["HTTP", { httpsRedirect: true, subjectAltNames: [], cipherSuites: [] }],
      [
        "HTTPS",
        {
          httpsRedirect: false,
          mode: "SIMPLE",
          credentialName: "a-cred",
          minProtocolVersion: "TLSV1_3",
          subjectAltNames: [],
          cipherSuites: ["ECDHE-RSA-AES128-GCM-SHA256"],
        },
      ],
      [
        "HTTPS",
        {
          httpsRedirect: false,
          mode: "MUTUAL",
          serverCertificate: "/etc/certs/tls.crt",
          privateKey: "/etc/certs/tls.key",
          caCertificates: "/etc/certs/ca.crt",
          subjectAltNames: ["spiffe://cluster.local/ns/default/sa/client"],
          cipherSuites: [],
        },
      ],
    ]);
  });

  it("rejects what Istio rejects, with positions", () => {
    expect(
      report(
        gw(`- port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["*"]
      - port: {number: 443, name: https-2, protocol: HTTPS}
        hosts: ["*"]
        tls: {mode: MUTUAL, serverCertificate: /c.pem}
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["*"]
        tls: {mode: SIMPLE, credentialName: x, httpsRedirect: yes}
      - port: {number: 443, name: https-3, protocol: HTTPS}
        hosts: ["*"]
        tls: {mode: simple, credentialName: x, minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2}
      - port: {number: 443, name: https-4, protocol: HTTPS}
        hosts: ["*"]
        tls: {mode: SIMPLE, credentialName: x, maxProtocolVersion: TLSV1_2, minProtocolVersion: TLSV1_3}
      - port: {number: 443, name: https-5, protocol: HTTPS}
        hosts: ["*"]
        tls: {mode: ISTIO_MUTUAL, credentialName: x}`),
      ),
    ).toEqual([
      "t.yaml:7:5 Gateway/default/edge: spec.servers[0].tls: is required on an HTTPS server (as Istio)",
      "t.yaml:11:5 Gateway/default/edge: spec.servers[1].tls.privateKey: MUTUAL requires a private key (or credentialName)",
      "t.yaml:11:5 Gateway/default/edge: spec.servers[1].tls.caCertificates: MUTUAL requires a client CA bundle (or credentialName)",
      "t.yaml:14:5 Gateway/default/edge: spec.servers[2].tls: an HTTP server cannot have TLS settings other than httpsRedirect (as Istio)",
      "t.yaml:14:44 Gateway/default/edge: spec.servers[2].tls.httpsRedirect: must be true or false",
      't.yaml:17:11 Gateway/default/edge: spec.servers[3].tls.mode: unknown mode "simple" (Istio knows PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL)',
      "t.yaml:20:44 Gateway/default/edge: spec.servers[4].tls.maxProtocolVersion: TLSV1_2 is lower than minProtocolVersion TLSV1_3 (as Istio)",
      "t.yaml:23:11 Gateway/default/edge: spec.servers[5].tls.mode: warning: ISTIO_MUTUAL is not supported by Lanecar; this server is not served (no listener takes its hosts)",
      "t.yaml:23:31 Gateway/default/edge: spec.servers[5].tls.credentialName: ISTIO_MUTUAL cannot have its own certificates (as Istio)",
    ]);
  });

  it("warns about modes Lanecar does not serve and leaves those servers out; Istio's passthrough task still loads", () => {
    const r = load(
      gw(`- port: {number: 443, name: https, protocol: HTTPS}
        hosts: [a.example.com]
        tls: {mode: PASSTHROUGH}
      - port: {number: 443, name: tls, protocol: TLS}
        hosts: [b.example.com]
        tls: {mode: AUTO_PASSTHROUGH}
      - port: {number: 443, name: https-2, protocol: HTTPS}
        hosts: [c.example.com]
        tls: {mode: OPTIONAL_MUTUAL, credentialName: c, caCrl: /crl.pem}`),
    );
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      "t.yaml:9:11 Gateway/default/edge: spec.servers[0].tls.mode: warning: PASSTHROUGH is not supported by Lanecar; this server is not served (no listener takes its hosts)",
      "t.yaml:10:36 Gateway/default/edge: spec.servers[1].port.protocol: warning: TLS servers are not supported by Lanecar; ignored: the gateway serves HTTP/1.1 and HTTPS only",
      "t.yaml:15:11 Gateway/default/edge: spec.servers[2].tls.mode: warning: OPTIONAL_MUTUAL is not supported by Lanecar; this server is not served (no listener takes its hosts)",
      "t.yaml:15:53 Gateway/default/edge: spec.servers[2].tls.caCrl: warning: not supported by Lanecar; ignored",
    ]);
    expect((r.resources[0]!.spec as GatewaySpec).servers).toEqual([]);
    const file = "../shared/conformance/istio/tasks/egress-gateway__https-passthrough.yaml";
    const text = readFileSync(new URL(`../../../../${file}`, import.meta.url), "utf8");
    const passthrough = load(text);
    expect(errors(passthrough.diagnostics)).toEqual([]);
    expect(passthrough.resources.map((x) => x.kind)).toContain("Gateway");
  });
});
