import { describe, expect, it } from "vitest";
import { type DestinationRuleSpec, OUTLIER_DEFAULTS } from "../../src/index.js";
import { load, report, yaml } from "./helpers.js";

describe("DestinationRule", () => {
  it("normalizes subsets and traffic policy, filling outlier detection defaults", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        trafficPolicy:
          loadBalancer: {simple: LEAST_CONN}
          connectionPool: {tcp: {maxConnections: 10, connectTimeout: 250ms}, http: {http1MaxPendingRequests: 5}}
          outlierDetection: {consecutive5xxErrors: 3, interval: 5s}
        subsets:
        - name: v1
          labels: {version: v1}
        - name: v2
          labels: {version: v2}
          trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: X-User}}}
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([]);
    expect(r.resources[0]!.spec).toEqual({
      host: "reviews",
      trafficPolicy: {
        loadBalancer: { simple: "LEAST_REQUEST" },
        connectionPool: { maxConnections: 10, connectTimeoutMs: 250, http1MaxPendingRequests: 5 },
        outlierDetection: { ...OUTLIER_DEFAULTS, consecutive5xxErrors: 3, intervalMs: 5000 },
      },
      subsets: [
        { name: "v1", labels: { version: "v1" } },
        {
          name: "v2",
          labels: { version: "v2" },
          trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } },
        },
      ],
    });
  });

  it("reports unknown enum values, bad durations and out-of-range numbers at their fields", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1beta1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        trafficPolicy:
          loadBalancer:
            simple: ROUND_ROBBIN
          connectionPool:
            tcp: {maxConnections: 0, connectTimeout: 30}
          outlierDetection:
            interval: 1y
            baseEjectionTime: -30s
            maxEjectionPercent: 150
    `;
    expect(report(text)).toEqual([
      't.yaml:8:7 DestinationRule/default/reviews: spec.trafficPolicy.loadBalancer.simple: must be one of ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM, PASSTHROUGH, UNSPECIFIED; got "ROUND_ROBBIN"',
      "t.yaml:10:13 DestinationRule/default/reviews: spec.trafficPolicy.connectionPool.tcp.maxConnections: must be >= 1",
      't.yaml:10:32 DestinationRule/default/reviews: spec.trafficPolicy.connectionPool.tcp.connectTimeout: must be a duration such as "10s", got a number',
      't.yaml:12:7 DestinationRule/default/reviews: spec.trafficPolicy.outlierDetection.interval: "1y" is not a duration (use e.g. "500ms", "10s", "1m")',
      't.yaml:13:7 DestinationRule/default/reviews: spec.trafficPolicy.outlierDetection.baseEjectionTime: "-30s" is not a duration (use e.g. "500ms", "10s", "1m")',
      "t.yaml:14:7 DestinationRule/default/reviews: spec.trafficPolicy.outlierDetection.maxEjectionPercent: must be <= 100",
    ]);
  });

  it("rejects duplicate subsets and $-names, and wrong label types", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        subsets:
        - {name: v1, labels: {version: v1}}
        - {name: v1, labels: {version: v2}}
        - {name: $lane, labels: {version: v3}}
        - {name: v4, labels: version=v4}
    `;
    expect(report(text)).toEqual([
      't.yaml:8:6 DestinationRule/default/reviews: spec.subsets[1].name: duplicate subset "v1"',
      "t.yaml:9:6 DestinationRule/default/reviews: spec.subsets[2].name: subset names cannot start with $",
      "t.yaml:10:16 DestinationRule/default/reviews: spec.subsets[3].labels: must be a mapping, got a string",
    ]);
  });

  it("rejects two load balancer kinds and an ambiguous consistent hash", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        trafficPolicy:
          loadBalancer:
            simple: RANDOM
            consistentHash: {httpHeaderName: x-user, useSourceIp: true}
    `;
    expect(report(text)).toEqual([
      "t.yaml:7:5 DestinationRule/default/reviews: spec.trafficPolicy.loadBalancer: must set only one of simple, consistentHash",
      "t.yaml:9:7 DestinationRule/default/reviews: spec.trafficPolicy.loadBalancer.consistentHash: must set exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName",
    ]);
  });

  it("warns about known fields Lanecar ignores (tunnel) and rejects unknown ones", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        trafficPolicy:
          tunnel: {protocol: CONNECT}
          loadBalancing: {simple: RANDOM}
    `;
    expect(report(text)).toEqual([
      "t.yaml:7:5 DestinationRule/default/reviews: spec.trafficPolicy.tunnel: warning: not supported by Lanecar; ignored",
      "t.yaml:8:5 DestinationRule/default/reviews: spec.trafficPolicy.loadBalancing: unknown field",
    ]);
  });

  it("reads tls at every level: all ClientTLSSettings fields, port-level settings, bad modes are errors", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: db}
      spec:
        host: db.example.com
        trafficPolicy:
          tls: {mode: ISTIO_MUTUAL, sni: db, subjectAltNames: [spiffe://cluster.local/ns/db/sa/db]}
          portLevelSettings:
          - port: {number: 443}
            tls: {mode: SIMPLE, caCertificates: /etc/ca.pem, sni: db.example.com, insecureSkipVerify: false}
          - port: {number: 8443}
            tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, caCertificates: /ca.pem}
            connectionPool: {tcp: {maxConnections: 3}}
        subsets:
        - {name: v1, labels: {version: v1}, trafficPolicy: {tls: {mode: DISABLE}}}
        - {name: v2, labels: {version: v2}, trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-credential}}}
        - {name: v3, labels: {version: v3}, trafficPolicy: {tls: {mode: STRICT}}}
    `;
    const r = load(text);
    expect(r.diagnostics.map((d) => `${d.path}: ${d.message}`)).toEqual([
      'spec.subsets[2].trafficPolicy.tls.mode: "STRICT" is not one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL',
    ]);
    const ok = load(text.replace("mode: STRICT", "mode: SIMPLE"));
    expect(ok.diagnostics).toEqual([]);
    const spec = ok.resources[0]!.spec as DestinationRuleSpec;
    expect(spec.trafficPolicy).toEqual({
      tls: { mode: "ISTIO_MUTUAL", sni: "db", subjectAltNames: ["spiffe://cluster.local/ns/db/sa/db"] },
      portLevelSettings: [
        {
          port: 443,
          tls: {
            mode: "SIMPLE",
            caCertificates: "/etc/ca.pem",
            sni: "db.example.com",
            insecureSkipVerify: false,
          },
        },
        {
          port: 8443,
          tls: {
            mode: "MUTUAL",
            clientCertificate: "/c.pem",
            privateKey: "/k.pem",
            caCertificates: "/ca.pem",
          },
          connectionPool: { maxConnections: 3 },
        },
      ],
    });
    expect(spec.subsets.map((s) => s.trafficPolicy?.tls)).toEqual([
      { mode: "DISABLE" },
      { mode: "MUTUAL", credentialName: "client-credential" },
      { mode: "SIMPLE" },
    ]);
  });

  it("validates tls as Istio: MUTUAL needs a certificate and key, credentialName excludes files, unused fields warn", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: db}
      spec:
        host: db
        trafficPolicy:
          portLevelSettings:
          - port: {number: 1}
            tls: {mode: MUTUAL, caCertificates: /ca.pem}
          - port: {number: 2}
            tls: {mode: SIMPLE, credentialName: c, caCertificates: /ca.pem}
          - port: {number: 3}
            tls: {mode: ISTIO_MUTUAL, privateKey: /k.pem, caCrl: /crl.pem}
          - port: {number: 3}
          - tls: {mode: SIMPLE}
    `;
    expect(report(text)).toEqual([
      "t.yaml:9:7 DestinationRule/default/db: spec.trafficPolicy.portLevelSettings[0].tls.clientCertificate: is required for MUTUAL (or set credentialName)",
      "t.yaml:9:7 DestinationRule/default/db: spec.trafficPolicy.portLevelSettings[0].tls.privateKey: is required for MUTUAL (or set credentialName)",
      "t.yaml:11:46 DestinationRule/default/db: spec.trafficPolicy.portLevelSettings[1].tls.caCertificates: cannot be set together with credentialName (the credential holds it)",
      "t.yaml:13:33 DestinationRule/default/db: spec.trafficPolicy.portLevelSettings[2].tls.privateKey: warning: not used with mode ISTIO_MUTUAL; ignored",
      "t.yaml:13:53 DestinationRule/default/db: spec.trafficPolicy.portLevelSettings[2].tls.caCrl: warning: not supported by Lanecar; ignored",
      "t.yaml:14:14 DestinationRule/default/db: spec.trafficPolicy.portLevelSettings[3].port.number: port 3 already has port-level settings",
      "t.yaml:15:7 DestinationRule/default/db: spec.trafficPolicy.portLevelSettings[4].port: is required",
    ]);
  });

  it("requires spec.host", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        subsets: [{name: v1, labels: {version: v1}}]
    `;
    expect(report(text)).toEqual(["t.yaml:4:1 DestinationRule/default/reviews: spec.host: is required"]);
  });
});
