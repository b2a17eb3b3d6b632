import { buildSnapshot, headerGetter, type RouteRequest } from "@lanecar/core";
import { describe, expect, it } from "vitest";
import { LaneGuard } from "../../src/gateway/lane-guard.js";
import { LaneTokenVerifier, mintLaneToken } from "../../src/gateway/lane-token.js";

const yaml = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: 80, name: http}]
  endpoints: [{address: 127.0.0.1, labels: {ASM_TRAFFIC_TAG: prod}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gw}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - name: testers
    match: [{headers: {x-lane: {regex: ".+"}}}]
    route: [{destination: {host: web}}]
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    headers: {request: {set: {x-lane: gray}}}
    route: [{destination: {host: web}}]
  - name: others
    route: [{destination: {host: web}}]
`;

const key = Buffer.from("k".repeat(40));

function decide(headers: Record<string, string>) {
  const { snapshot } = buildSnapshot([{ file: "g.yaml", text: yaml }]);
  const header = headerGetter(headers);
  const req: RouteRequest = {
    method: "GET",
    path: "/",
    authority: "example.com",
    scheme: "http",
    port: 80,
    header,
  };
  const d = snapshot!.router("default/gw").route(
    req,
    { gateway: "default/gw", namespace: "default", podLabels: {} },
    {},
    {
      isAvailable: () => true,
      activeRequests: () => 0,
    },
  );
  const guard = new LaneGuard(new Set(["x-lane"]), new LaneTokenVerifier(key));
  return { rule: d.rule, labels: guard.grant({}, d.route, d.matchIndex, header), guard, header };
}

describe("lane guard at the gateway", () => {
  it("admits the client's lane when the matched route tests that header", () => {
    expect(decide({ "x-lane": "gray" })).toMatchObject({ rule: "gw/testers", labels: { "x-lane": "gray" } });
  });

  it("takes the lane a route sets", () => {
    expect(decide({ "end-user": "jason" }).labels).toEqual({ "x-lane": "gray" });
  });

  it("grants nothing to a route that neither tests nor sets the lane", () => {
    expect(decide({ "x-lane_": "gray" }).labels).toEqual({});
    expect(decide({}).labels).toEqual({});
  });

  it("grants the lane of a valid token, and nothing for a bad one", () => {
    const t = mintLaneToken(key, "x-lane", "canary", Date.now() / 1000 + 60);
    expect(decide({ "x-lanecar-lane-token": t }).labels).toEqual({ "x-lane": "canary" });
    expect(decide({ "x-lanecar-lane-token": `${t}x` }).labels).toEqual({});
  });

  it("hides client lane headers, the token and lane baggage members from label resolution", () => {
    const { guard } = decide({});
    const trusted = guard.trusted(
      headerGetter({ "x-lane": "gray", "x-lanecar-lane-token": "t", baggage: "a=1,x-lane=gray", other: "o" }),
    );
    expect(trusted("x-lane")).toBeUndefined();
    expect(trusted("x-lanecar-lane-token")).toBeUndefined();
    expect(trusted("baggage")).toBe("a=1");
    expect(trusted("other")).toBe("o");
  });

  it("strips lane members from forwarded baggage", () => {
    const { guard } = decide({});
    const h = ["baggage", "x-lane=gray,a=1"];
    guard.stripBaggage(h);
    expect(h).toEqual(["baggage", "a=1"]);
  });
});
