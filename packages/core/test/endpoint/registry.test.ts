/** ServiceEntry / WorkloadEntry / WorkloadGroup / DestinationRule → services, endpoints and clusters. */
import { describe, expect, it } from "vitest";
import { ALL_AVAILABLE, availabilityExcept, endpointKey, mergePolicy } from "../../src/index.js";
import { snap } from "../route/support.js";

const FQDN = (h: string, ns = "default") => `${h}.${ns}.svc.cluster.local`;

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http}, {number: 9443, name: admin, targetPort: 19443}]
  workloadSelector: {labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1}
spec: {address: 10.0.0.1, ports: {http: 19001}, labels: {app: reviews, version: v1, ASM_TRAFFIC_TAG: prod}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v2}
spec: {address: 10.0.0.2, ports: {http: 19002, admin: 29002}, labels: {app: reviews, version: v2, ASM_TRAFFIC_TAG: gray}, weight: 3}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v3-ipv6}
spec: {address: "::1", labels: {app: reviews, version: v3}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: stranger}
spec: {address: 10.0.0.9, labels: {app: ratings}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-elsewhere, namespace: other}
spec: {address: 10.0.1.1, labels: {app: reviews}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: reviews-v2}
spec:
  metadata: {labels: {app: reviews, version: v2}}
  probe: {httpGet: {path: /healthz, port: 19002}, periodSeconds: 5, failureThreshold: 2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    outlierDetection: {consecutive5xxErrors: 3, interval: 5s, baseEjectionTime: 30s}
  subsets:
  - {name: v1, labels: {version: v1}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
  - {name: none, labels: {version: v9}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mirror-a}
spec:
  hosts: [shared.example.com]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http}]
  endpoints: [{address: 192.0.2.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mirror-b}
spec:
  hosts: [shared.example.com]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http}]
  endpoints: [{address: 192.0.2.2, labels: {zone: b}}]
`;

describe("ServiceRegistry", () => {
  const s = snap(CONFIG);
  const reg = s.registry;

  it("defines services from ServiceEntry hosts (FQDN), with location and origin", () => {
    expect(reg.hasService(FQDN("reviews"))).toBe(true);
    expect(reg.hasService("reviews")).toBe(false);
    expect(reg.service(FQDN("reviews"))).toMatchObject({
      location: "MESH_INTERNAL",
      origin: "ServiceEntry/default/reviews",
      namespace: "default",
    });
    expect(
      reg
        .allServices()
        .map((x) => x.host)
        .sort(),
    ).toEqual([FQDN("reviews"), "shared.example.com"]);
    expect(s.isExternal("shared.example.com")).toBe(true);
    expect(s.isExternal("reviews")).toBe(false);
    expect(s.isExternal("nowhere")).toBe(false);
  });

  it("workloadSelector picks WorkloadEntries of the ServiceEntry's namespace by label", () => {
    const c = reg.cluster(FQDN("reviews"), 9080, undefined)!;
    expect(c.endpoints.map((e) => e.key)).toEqual(["10.0.0.1:19001", "10.0.0.2:19002", "[::1]:9080"]);
    expect(c.endpoints.map((e) => e.origin)).toEqual([
      "WorkloadEntry/default/reviews-v1",
      "WorkloadEntry/default/reviews-v2",
      "WorkloadEntry/default/reviews-v3-ipv6",
    ]);
    expect(c.subset).toBeUndefined();
    expect(c.name).toBe(`outbound|9080||${FQDN("reviews")}`);
  });

  it("an endpoint's port is its named port, else the service targetPort, else the service port", () => {
    const admin = reg.cluster(FQDN("reviews"), 9443, undefined)!;
    expect(admin.endpoints.map((e) => e.port)).toEqual([19443, 29002, 19443]);
    expect(admin.port).toMatchObject({ number: 9443, name: "admin" });
  });

  it("keeps WorkloadEntry weights (default 1)", () => {
    expect(reg.cluster(FQDN("reviews"), 9080, undefined)!.endpoints.map((e) => e.weight)).toEqual([1, 3, 1]);
  });

  it("WorkloadGroup probes apply to the endpoints its labels select", () => {
    const eps = reg.cluster(FQDN("reviews"), 9080, undefined)!.endpoints;
    expect(eps[0]!.probe).toBeUndefined();
    expect(eps[1]!.probe).toMatchObject({
      path: "/healthz",
      port: 19002,
      periodMs: 5000,
      failureThreshold: 2,
      successThreshold: 1,
    });
    expect(eps[2]!.probe).toBeUndefined();
  });

  it("DestinationRule subsets select by labels; the subset's policy is merged over the rule's", () => {
    const v1 = reg.cluster(FQDN("reviews"), 9080, "v1")!;
    const v2 = reg.cluster(FQDN("reviews"), 9080, "v2")!;
    expect(v1.endpoints.map((e) => e.port)).toEqual([19001]);
    expect(v2.endpoints.map((e) => e.port)).toEqual([19002]);
    expect(v1.policy.loadBalancer).toEqual({ simple: "LEAST_REQUEST" });
    expect(v2.policy.loadBalancer).toEqual({ simple: "RANDOM" });
    expect(v2.policy.outlierDetection).toMatchObject({
      consecutive5xxErrors: 3,
      intervalMs: 5000,
      baseEjectionTimeMs: 30000,
    });
    expect(v2.name).toBe(`outbound|9080|v2|${FQDN("reviews")}`);
    expect(reg.hasSubset(FQDN("reviews"), "v2")).toBe(true);
    expect(reg.hasSubset(FQDN("reviews"), "gray")).toBe(false);
    expect(reg.destinationRule(FQDN("reviews"))?.id).toBe("DestinationRule/default/reviews");
  });

  it("a subset whose labels select nothing is an empty cluster (noinstances)", () => {
    expect(reg.cluster(FQDN("reviews"), 9080, "none")!.endpoints).toEqual([]);
  });

  it("implicit lanes: an ASM_TRAFFIC_TAG value that is no DR subset selects its endpoints", () => {
    const gray = reg.cluster(FQDN("reviews"), 9080, "gray")!;
    expect(gray.endpoints.map((e) => e.port)).toEqual([19002]);
    expect(gray.subset).toBe("gray");
    expect(gray.policy.loadBalancer).toEqual({ simple: "LEAST_REQUEST" });
  });

  it("unknown subset names share one empty cluster per service port", () => {
    const a = reg.cluster(FQDN("reviews"), 9080, "blue")!;
    expect(a.endpoints).toEqual([]);
    expect(reg.cluster(FQDN("reviews"), 9080, "green")).toBe(a);
    expect(reg.cluster(FQDN("reviews"), 9080, "")).toBe(a);
    expect(reg.cluster(FQDN("reviews"), 9443, "blue")).not.toBe(a);
  });

  it("clusters are built once and cached", () => {
    expect(reg.cluster(FQDN("reviews"), 9080, "v1")).toBe(reg.cluster(FQDN("reviews"), 9080, "v1"));
    expect(reg.cluster(FQDN("reviews"), 9080, undefined)).toBe(reg.cluster(FQDN("reviews"), 9080, undefined));
  });

  it("servicePort: the declared port, else the only port; none for an undeclared port of a multi-port service", () => {
    const svc = reg.service(FQDN("reviews"))!;
    expect(reg.servicePort(svc, 9443)?.name).toBe("admin");
    expect(reg.servicePort(svc, undefined)?.name).toBe("http");
    expect(reg.servicePort(svc, 1234)).toBeUndefined();
    expect(reg.cluster(FQDN("reviews"), 1234, undefined)).toBeUndefined();
    const shared = reg.service("shared.example.com")!;
    expect(reg.servicePort(shared, 8080)?.number).toBe(80);
  });

  it("ServiceEntries for one host merge their endpoints", () => {
    const c = reg.cluster("shared.example.com", 80, undefined)!;
    expect(c.endpoints.map((e) => e.key)).toEqual(["192.0.2.1:80", "192.0.2.2:80"]);
    expect(c.endpoints[1]!.labels).toEqual({ zone: "b" });
  });

  it("unknown hosts have no cluster", () => {
    expect(reg.cluster("nowhere", 80, undefined)).toBeUndefined();
  });

  it("allEndpoints lists every endpoint once", () => {
    const keys = reg
      .allEndpoints()
      .map((e) => e.key)
      .sort();
    expect(keys).toEqual(
      [
        "10.0.0.1:19001",
        "10.0.0.1:19443",
        "10.0.0.2:19002",
        "10.0.0.2:29002",
        "192.0.2.1:80",
        "192.0.2.2:80",
        "[::1]:19443",
        "[::1]:9080",
      ].sort(),
    );
  });

  it("cluster availability and pick follow the availability view", () => {
    const c = reg.cluster(FQDN("reviews"), 9080, "v1")!;
    expect(c.anyAvailable(ALL_AVAILABLE)).toBe(true);
    const down = availabilityExcept(["10.0.0.1:19001"]);
    expect(c.anyAvailable(down)).toBe(false);
    expect(c.pick(down)).toBeUndefined();
    expect(c.pick(ALL_AVAILABLE)?.key).toBe("10.0.0.1:19001");
    expect(reg.cluster(FQDN("reviews"), 9080, "none")!.pick(ALL_AVAILABLE)).toBeUndefined();
  });
});

describe("helpers", () => {
  it("endpointKey brackets IPv6", () => {
    expect(endpointKey("10.0.0.1", 80)).toBe("10.0.0.1:80");
    expect(endpointKey("fe80::1", 80)).toBe("[fe80::1]:80");
  });

  it("mergePolicy takes the subset's fields over the rule's, field by field", () => {
    const base = { loadBalancer: { simple: "RANDOM" as const }, connectionPool: { maxConnections: 1 } };
    expect(mergePolicy(base, { connectionPool: { maxConnections: 2 } })).toEqual({
      loadBalancer: { simple: "RANDOM" },
      connectionPool: { maxConnections: 2 },
    });
    expect(mergePolicy(undefined, undefined)).toEqual({});
  });
});
