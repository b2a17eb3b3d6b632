/** Route tables per context: which VirtualService serves which host, in `mesh` and at gateways. */
import { describe, expect, it } from "vitest";
import { qualifyGateway } from "../../src/index.js";
import { destinationRule, route, serviceEntry, snap } from "./support.js";

const REVIEWS = serviceEntry("reviews", [
  { port: 19001, labels: { version: "v1" } },
  { port: 19002, labels: { version: "v2" } },
]);
const DR = destinationRule("reviews", { v1: { version: "v1" }, v2: { version: "v2" } });

const vs = (
  name: string,
  hosts: string,
  subset: string,
  extra = "",
  ns?: string,
) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}${ns ? `, namespace: ${ns}` : ""}}
spec:
  hosts: ${hosts}
${extra}  http: [{route: [{destination: {host: reviews.default.svc.cluster.local, subset: ${subset}}}]}]
`;

describe("qualifyGateway", () => {
  it("qualifies short gateway names with the VirtualService namespace", () => {
    expect(qualifyGateway("mesh", "x")).toBe("mesh");
    expect(qualifyGateway("edge", "default")).toBe("default/edge");
    expect(qualifyGateway("istio-system/edge", "default")).toBe("istio-system/edge");
  });
});

describe("route tables", () => {
  it("the first VirtualService for a host wins (config order), as Istio keeps the oldest", () => {
    const s = snap([REVIEWS, DR, vs("first", "[reviews]", "v1"), vs("second", "[reviews]", "v2")]);
    expect(route(s, "GET http://reviews/").rule).toBe("first/0");
  });

  it("a VirtualService host in another namespace is expanded there", () => {
    const s = snap([REVIEWS, DR, vs("cross", "[reviews]", "v2", "", "other")]);
    expect(route(s, "GET http://reviews/").rule).toBeNull();
    const d = route(s, "GET http://reviews/", { namespace: "other" });
    expect(d.rule).toBe("cross/0");
    expect(d.host).toBe("reviews.other.svc.cluster.local");
    expect(d.destination?.host).toBe("reviews.default.svc.cluster.local");
  });

  it("exact hosts win over wildcard hosts", () => {
    const s = snap([
      REVIEWS,
      DR,
      serviceEntry("ratings", [{ port: 19030 }]),
      vs("wild", "['*.default.svc.cluster.local']", "v2"),
      vs("exact", "[reviews]", "v1"),
    ]);
    expect(route(s, "GET http://reviews/").rule).toBe("exact/0");
  });

  it("a wildcard VirtualService host covers the services it matches (Istio applies it to their routes)", () => {
    const s = snap([
      REVIEWS,
      DR,
      serviceEntry("ratings", [{ port: 19030 }]),
      vs("wild", "['*.default.svc.cluster.local']", "v2"),
    ]);
    for (const h of ["ratings", "ratings:9080", "ratings.default", "ratings.default.svc.cluster.local"]) {
      const d = route(s, `GET http://${h}/`);
      expect(d.rule).toBe("wild/0");
      expect(d.host).toBe("ratings.default.svc.cluster.local");
    }
  });

  it("a wildcard VirtualService covers a MESH_EXTERNAL ServiceEntry host and unknown hosts under it", () => {
    const s = snap([
      REVIEWS,
      DR,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http}]
  endpoints: [{address: 10.0.0.9}]
`,
      vs("ext", "['*.example.com']", "v2"),
    ]);
    expect(route(s, "GET http://api.example.com/").rule).toBe("ext/0");
    expect(route(s, "GET http://www.example.com/").rule).toBe("ext/0");
    expect(route(s, "GET http://example.com/").kind).toBe("noroute");
  });

  describe("gateway contexts", () => {
    const GW = (name: string, hosts: string, ns?: string) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ${name}${ns ? `, namespace: ${ns}` : ""}}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ${hosts}}]
`;
    const s = snap([
      REVIEWS,
      DR,
      GW("edge", '["*"]'),
      GW("shop", '["shop.example.com"]'),
      GW("scoped", '["other/*"]'),
      vs("edge-vs", "['*']", "v1", "  gateways: [edge]\n"),
      vs("shop-vs", "[shop.example.com, blog.example.com]", "v2", "  gateways: [shop, edge]\n"),
      vs("scoped-vs", "['scoped.example.com']", "v2", "  gateways: [default/scoped]\n"),
    ]);

    it("each gateway serves the VirtualServices bound to it", () => {
      expect(route(s, "GET http://bookinfo.example.com/", { context: "default/edge" }).rule).toBe(
        "edge-vs/0",
      );
      expect(route(s, "GET http://shop.example.com/", { context: "default/edge" }).rule).toBe("shop-vs/0");
      expect(route(s, "GET http://shop.example.com/", { context: "default/shop" }).rule).toBe("shop-vs/0");
      expect(route(s, "GET http://bookinfo.example.com/", { context: "default/shop" }).kind).toBe("noroute");
    });

    it("a gateway serves only the VirtualService hosts its servers admit", () => {
      // blog.example.com is bound to shop, but the shop server only admits shop.example.com.
      expect(route(s, "GET http://blog.example.com/", { context: "default/shop" }).kind).toBe("noroute");
      // `other/*` admits only VirtualServices of namespace other.
      expect(route(s, "GET http://scoped.example.com/", { context: "default/scoped" }).kind).toBe("noroute");
    });

    it("the mesh does not see gateway-only VirtualServices", () => {
      expect(route(s, "GET http://shop.example.com/").kind).toBe("noroute");
    });
  });
});

describe("gateway server hosts", () => {
  it("admit a VirtualService's short host by its FQDN, as Istio expands both", () => {
    const s = snap([
      REVIEWS,
      DR,
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: internal}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["reviews.default.svc.cluster.local"]}]
`,
      vs("internal-vs", "[reviews]", "v2", "  gateways: [internal]\n"),
    ]);
    const d = route(s, "GET http://reviews.default.svc.cluster.local/", { context: "default/internal" });
    expect(d.rule).toBe("internal-vs/0");
    expect(d.destination?.subset).toBe("v2");
  });
});

describe("gateway server host namespaces", () => {
  const gw = (hosts: string) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ${hosts}}]
`;
  const vsIn = (ns: string) =>
    vs(`vs-${ns}`, `[${ns}.example.com]`, "v2", "  gateways: [istio-system/edge]\n", ns);

  it("`./host` admits only VirtualServices of the Gateway's own namespace", () => {
    const s = snap([REVIEWS, DR, gw('["./*"]'), vsIn("istio-system"), vsIn("default")]);
    expect(route(s, "GET http://istio-system.example.com/", { context: "istio-system/edge" }).rule).toBe(
      "vs-istio-system/0",
    );
    expect(route(s, "GET http://default.example.com/", { context: "istio-system/edge" }).kind).toBe(
      "noroute",
    );
  });

  it("`ns/host` admits VirtualServices of that namespace, `*/host` of any", () => {
    const s = snap([
      REVIEWS,
      DR,
      gw('["default/*", "*/istio-system.example.com"]'),
      vsIn("istio-system"),
      vsIn("default"),
    ]);
    expect(route(s, "GET http://default.example.com/", { context: "istio-system/edge" }).rule).toBe(
      "vs-default/0",
    );
    expect(route(s, "GET http://istio-system.example.com/", { context: "istio-system/edge" }).rule).toBe(
      "vs-istio-system/0",
    );
  });
});
