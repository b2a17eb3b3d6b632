/**
 * A cluster's traffic policy with Istio's precedence (MergeSubsetTrafficPolicy): subset's
 * port-level > subset > rule's port-level > rule; a port-level entry replaces all four fields
 * (unset ones take defaults, not the level below). And the identities endpoints carry:
 * WorkloadEntry and inline ServiceEntry endpoints' `serviceAccount`.
 */
import { describe, expect, it } from "vitest";
import { type ClientTlsMode, mergePolicy, type TrafficPolicy } from "../../src/index.js";
import { snap } from "../route/support.js";

const tls = (mode: ClientTlsMode) => ({ tls: { mode } });

const RULE: TrafficPolicy = {
  ...tls("SIMPLE"),
  loadBalancer: { simple: "RANDOM" },
  portLevelSettings: [{ port: 80, ...tls("MUTUAL") }],
};

describe("traffic policy precedence (rule, rule port-level, subset, subset port-level)", () => {
  const cases: [string, TrafficPolicy | undefined, TrafficPolicy | undefined, number, object][] = [
    ["rule only", RULE, undefined, 443, { tls: { mode: "SIMPLE" }, loadBalancer: { simple: "RANDOM" } }],
    // The port-level entry replaces every field: the rule's loadBalancer is not inherited.
    ["rule's port-level over rule", RULE, undefined, 80, { tls: { mode: "MUTUAL" } }],
    [
      "subset over rule",
      RULE,
      tls("DISABLE"),
      443,
      { tls: { mode: "DISABLE" }, loadBalancer: { simple: "RANDOM" } },
    ],
    ["subset over rule's port-level", RULE, tls("ISTIO_MUTUAL"), 80, { tls: { mode: "ISTIO_MUTUAL" } }],
    [
      "subset without tls keeps the rule's port-level tls",
      RULE,
      { connectionPool: { maxConnections: 2 } },
      80,
      { tls: { mode: "MUTUAL" }, connectionPool: { maxConnections: 2 } },
    ],
    [
      "subset's port-level over everything, fields it leaves unset become defaults",
      RULE,
      { ...tls("DISABLE"), portLevelSettings: [{ port: 80, connectionPool: { maxConnections: 7 } }] },
      80,
      { connectionPool: { maxConnections: 7 } },
    ],
    [
      "subset's port-level for another port: the subset's own fields",
      RULE,
      { ...tls("DISABLE"), portLevelSettings: [{ port: 8080, ...tls("SIMPLE") }] },
      80,
      { tls: { mode: "DISABLE" } },
    ],
    [
      "no rule: the subset's port-level",
      undefined,
      { portLevelSettings: [{ port: 80, ...tls("SIMPLE") }] },
      80,
      tls("SIMPLE"),
    ],
    ["nothing", undefined, undefined, 80, {}],
  ];
  for (const [name, rule, subset, port, want] of cases) {
    it(name, () => {
      expect(mergePolicy(rule, subset, port)).toEqual(want);
    });
  }
});

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: data}
spec:
  hosts: [db.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, targetPort: 443}, {number: 8080, name: alt}]
  workloadSelector: {labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-1, namespace: data}
spec: {address: 10.0.0.1, labels: {app: db, version: v1}, serviceAccount: db-reader}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cache, namespace: data}
spec:
  hosts: [cache.example.com]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 6379, name: http}]
  endpoints: [{address: 10.0.0.2, serviceAccount: cache}, {address: 10.0.0.3}]
  subjectAltNames: [spiffe://cluster.local/ns/data/sa/cache]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: data}
spec:
  host: db.example.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE, sni: db.internal}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {connectionPool: {tcp: {maxConnections: 4}}}
`;

describe("registry: clusters per port, endpoint service accounts", () => {
  const reg = snap(CONFIG).registry;

  it("the rule's port-level tls applies to its service port only (the port the app called, not targetPort)", () => {
    expect(reg.cluster("db.example.com", 80, undefined)!.policy).toEqual({
      tls: { mode: "SIMPLE", sni: "db.internal" },
    });
    expect(reg.cluster("db.example.com", 8080, undefined)!.policy).toEqual({});
    expect(reg.cluster("db.example.com", 80, "v1")!.policy).toEqual({
      tls: { mode: "SIMPLE", sni: "db.internal" },
      connectionPool: { maxConnections: 4 },
    });
    expect(reg.cluster("db.example.com", 80, undefined)!.endpoints[0]!.port).toBe(443);
  });

  it("WorkloadEntry and inline endpoints carry serviceAccount (absent when not set)", () => {
    expect(reg.cluster("db.example.com", 80, undefined)!.endpoints[0]!.serviceAccount).toBe("db-reader");
    expect(reg.cluster("cache.example.com", 6379, undefined)!.endpoints.map((e) => e.serviceAccount)).toEqual(
      ["cache", undefined],
    );
  });

  it("a ServiceEntry's subjectAltNames are its service's (the identities of endpoints without a service account)", () => {
    expect(reg.service("cache.example.com")?.subjectAltNames).toEqual([
      "spiffe://cluster.local/ns/data/sa/cache",
    ]);
    expect(reg.service("db.example.com")?.subjectAltNames).toBeUndefined();
  });

  it("an invalid serviceAccount is an error at its field", () => {
    expect(() => snap(CONFIG.replace("serviceAccount: cache", "serviceAccount: Not_Valid"))).toThrow(
      'spec.endpoints[0].serviceAccount: "Not_Valid" is not a valid service account name',
    );
  });
});

describe("DestinationRule workloadSelector: the rule applies to the selected workloads only", () => {
  const config = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nginx, namespace: default}
spec:
  hosts: [my-nginx.mesh-external.svc.cluster.local]
  resolution: STATIC
  ports: [{number: 443, name: http}]
  endpoints: [{address: 10.0.0.5}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: everyone, namespace: default}
spec:
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy: {tls: {mode: SIMPLE}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sleep-only, namespace: default}
spec:
  workloadSelector: {matchLabels: {app: sleep}}
  host: my-nginx.mesh-external.svc.cluster.local
  trafficPolicy:
    portLevelSettings: [{port: {number: 443}, tls: {mode: MUTUAL, credentialName: client-credential}}]
`;
  const HOST = "my-nginx.mesh-external.svc.cluster.local";
  const mode = (reg: ReturnType<typeof snap>["registry"]) =>
    reg.cluster(HOST, 443, undefined)!.policy.tls?.mode;

  it("unscoped, or a workload it does not select (labels, namespace): the rule without a selector", () => {
    const reg = snap(config).registry;
    expect(mode(reg)).toBe("SIMPLE");
    reg.scopeTo("default", { app: "productpage" });
    expect(mode(reg)).toBe("SIMPLE");
    reg.scopeTo("other", { app: "sleep" });
    expect(mode(reg)).toBe("SIMPLE");
  });

  it("the selected workload: its rule first; clusters built before are rebuilt", () => {
    const reg = snap(config).registry;
    expect(mode(reg)).toBe("SIMPLE");
    reg.scopeTo("default", { app: "sleep", version: "v1" });
    expect(mode(reg)).toBe("MUTUAL");
    expect(reg.destinationRule(HOST)?.id).toBe("DestinationRule/default/sleep-only");
    reg.scopeTo("default", { app: "productpage" });
    expect(mode(reg)).toBe("SIMPLE");
  });
});
