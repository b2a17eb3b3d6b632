/**
 * Issue 6, item 6: lane spoofing. At the gateway a client-sent lane header, lane baggage member,
 * or their case and underscore variants are removed unless the matched gateway route grants that
 * lane, or a signed lane token (minted with `lanecar lane-token`) does. Egress: calls to
 * MESH_EXTERNAL hosts carry no lane header and no lane baggage member.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintLaneToken } from "../../packages/proxy/src/gateway/lane-token.js";
import { LANECAR_BIN } from "../support/lanecar.js";
import { EDGE_GATEWAY } from "../support/yaml.js";
import {
  LANES_LABEL,
  laneSubsets,
  type Started,
  serviceEntry,
  startGatewayProcess,
  startSidecarProcess,
  writeConfig,
} from "./support/proxy.js";
import { type RecordingUpstream, startRecordingUpstream } from "./support/recording-upstream.js";
import { header, type ParsedRequest } from "./support/strict-http.js";

const LABEL = "x-asm-prefer-tag";
const agent = new Agent({ connections: 4 });

async function send(port: number, path: string, headers: Record<string, string>): Promise<number> {
  const r = await request(`http://127.0.0.1:${port}${path}`, {
    headers: { host: "web.example.com", ...headers },
    dispatcher: agent,
  });
  await r.body.text();
  return r.statusCode;
}

/**
 * A positive signal before an absence check: a request the route `jason` sends to gray, answered
 * by gray. A spoofed request that leaked to gray (a late mirror, a retry) was sent before it on
 * the same path; after it, gray must hold nothing but the barriers.
 */
async function grayBarrier(port: number, gray: RecordingUpstream): Promise<ParsedRequest[]> {
  expect(await send(port, "/barrier", { "end-user": "jason" })).toBe(200);
  return gray.requests.filter((q) => header(q, "end-user") !== "jason");
}

/** Every header whose name is the lane label in any case or with `_` for `-`. */
function laneHeaders(q: ParsedRequest): string[] {
  return q.headers
    .filter(([k]) => k.toLowerCase().replaceAll("_", "-") === LABEL)
    .map(([k, v]) => `${k}: ${v}`);
}

/** Baggage members whose key is the lane label in any case or with `_` for `-`. */
function laneMembers(q: ParsedRequest): string[] {
  return (header(q, "baggage") ?? "")
    .split(",")
    .filter((m) => m.split("=")[0]!.trim().toLowerCase().replaceAll("_", "-") === LABEL);
}

describe("lane spoofing at the gateway", () => {
  let prod: RecordingUpstream;
  let gray: RecordingUpstream;
  let gw: Started;
  let keyFile: string;

  beforeAll(async () => {
    prod = await startRecordingUpstream("echo");
    gray = await startRecordingUpstream("echo");
    const { dir } = writeConfig("");
    keyFile = join(dir, "lane.key");
    writeFileSync(keyFile, "k".repeat(48));
    const route = `route:
    - destination: {host: web, subset: $${LABEL}}
      fallback: {case: noinstances|noavailabled, target: {host: web, subset: prod}}`;
    gw = await startGatewayProcess({
      args: ["--lane-token-key-file", keyFile],
      yaml: [
        `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules:
  - labels:
    - name: ${LABEL}
      valueFrom: [$getInboundRequestHeader(${LABEL})]
    attachTo: [opentracing]`,
        EDGE_GATEWAY,
        serviceEntry("web", [
          { port: prod.port, labels: { ASM_TRAFFIC_TAG: "prod" } },
          { port: gray.port, labels: { ASM_TRAFFIC_TAG: "gray" } },
        ]),
        laneSubsets("web"),
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - name: testers
    match: [{uri: {prefix: /granted}, headers: {${LABEL}: {regex: "[a-z]+"}}}]
    ${route}
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    headers: {request: {set: {${LABEL}: gray}}}
    ${route}
  - name: default
    ${route}`,
      ],
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await prod?.close();
    await gray?.close();
  });

  const spoofs: [string, Record<string, string>][] = [
    ["the lane header", { [LABEL]: "gray" }],
    ["the lane header in another case", { "X-ASM-Prefer-Tag": "gray" }],
    ["the lane header with underscores", { x_asm_prefer_tag: "gray" }],
    ["the lane header upper case with underscores", { X_ASM_PREFER_TAG: "gray" }],
    ["a lane baggage member", { baggage: `${LABEL}=gray,k=v` }],
    ["a lane baggage member in another case", { baggage: `X-Asm-Prefer-Tag=gray,k=v` }],
    ["a lane baggage member with underscores", { baggage: `x_asm_prefer_tag=gray,k=v` }],
    ["a lane baggage member with properties and spaces", { baggage: `k=v , ${LABEL} = gray;p=1` }],
    ["a forged lane token", { "x-lanecar-lane-token": `v1:${LABEL}:gray:9999999999:AAAA` }],
  ];
  for (const [what, headers] of spoofs) {
    it(`${what} is removed when no route grants the lane`, async () => {
      prod.reset();
      gray.reset();
      expect(await send(gw.port, "/other", headers)).toBe(200);
      expect(prod.requests).toHaveLength(1);
      expect(await grayBarrier(gw.port, gray)).toEqual([]);
      const q = prod.requests[0]!;
      expect(laneHeaders(q)).toEqual([]);
      expect(laneMembers(q)).toEqual([]);
      expect(header(q, "x-lanecar-lane-token")).toBeUndefined();
      if (headers.baggage) expect(header(q, "baggage")).toContain("k=v");
    });
  }

  it("a route that tests the lane header grants the client's lane", async () => {
    gray.reset();
    expect(await send(gw.port, "/granted", { [LABEL]: "gray", x_asm_prefer_tag: "dev" })).toBe(200);
    expect(gray.requests).toHaveLength(1);
    expect(laneHeaders(gray.requests[0]!)).toEqual([`${LABEL}: gray`]);
    expect(laneMembers(gray.requests[0]!)).toEqual([`${LABEL}=gray`]);
  });

  it("a route that sets the lane grants it, whatever the client sent", async () => {
    gray.reset();
    expect(await send(gw.port, "/x", { "end-user": "jason", [LABEL]: "dev", baggage: `${LABEL}=dev` })).toBe(
      200,
    );
    expect(gray.requests).toHaveLength(1);
    expect(laneHeaders(gray.requests[0]!)).toEqual([`${LABEL}: gray`]);
    expect(laneMembers(gray.requests[0]!)).toEqual([`${LABEL}=gray`]);
  });

  it("a token minted by `lanecar lane-token` grants its lane until it expires; never forwarded", async () => {
    const mint = (ttl: string) => {
      const r = spawnSync(
        process.execPath,
        [LANECAR_BIN, "lane-token", "--key-file", keyFile, "--lane", "gray", "--ttl", ttl],
        {
          encoding: "utf8",
        },
      );
      expect(r.status).toBe(0);
      return r.stdout.trim();
    };
    const token = mint("1h");
    gray.reset();
    prod.reset();
    expect(await send(gw.port, "/other", { "x-lanecar-lane-token": token })).toBe(200);
    expect(gray.requests).toHaveLength(1);
    const q = gray.requests[0]!;
    expect(laneHeaders(q)).toEqual([`${LABEL}: gray`]);
    expect(header(q, "x-lanecar-lane-token")).toBeUndefined();
    // Tampered: another lane under the same signature.
    const tampered = token.replace(":gray:", ":dev:");
    expect(await send(gw.port, "/other", { "x-lanecar-lane-token": tampered })).toBe(200);
    expect(prod.requests).toHaveLength(1);
    expect(laneHeaders(prod.requests[0]!)).toEqual([]);
    // Expired (signed with the right key, a second ago).
    const expired = mintLaneToken(readFileSync(keyFile), LABEL, "gray", Date.now() / 1000 - 1);
    expect(await send(gw.port, "/other", { "x-lanecar-lane-token": expired })).toBe(200);
    expect(prod.requests).toHaveLength(2);
    // Only the valid token's request ever reached gray (checked after a barrier).
    expect(await grayBarrier(gw.port, gray)).toHaveLength(1);
  });
});

describe("egress to MESH_EXTERNAL hosts", () => {
  let ext: RecordingUpstream;
  let internal: RecordingUpstream;
  let sc: Started;
  beforeAll(async () => {
    ext = await startRecordingUpstream("echo");
    internal = await startRecordingUpstream("echo");
    sc = await startSidecarProcess({
      appPort: internal.port,
      podLabels: "app=a,version=v2,ASM_TRAFFIC_TAG=gray",
      yaml: [
        LANES_LABEL,
        serviceEntry("api.example.com", [{ port: ext.port }], "MESH_EXTERNAL"),
        serviceEntry("inside", [{ port: internal.port, labels: { ASM_TRAFFIC_TAG: "gray" } }]),
      ],
    });
  });
  afterAll(async () => {
    await sc?.stop();
    await ext?.close();
    await internal?.close();
  });

  it("carries no lane header and no lane baggage member, even when the app sent them", async () => {
    const headers = {
      [LABEL]: "gray",
      X_ASM_PREFER_TAG: "gray",
      baggage: `${LABEL}=gray,k=v,X_Asm_Prefer_Tag=gray`,
    };
    const r = await request(`http://127.0.0.1:${sc.outbound}/`, {
      headers: { host: "api.example.com:9080", ...headers },
      dispatcher: agent,
    });
    await r.body.text();
    expect(r.statusCode).toBe(200);
    expect(ext.requests).toHaveLength(1);
    const q = ext.requests[0]!;
    expect(laneHeaders(q)).toEqual([]);
    expect(laneMembers(q)).toEqual([]);
    expect(header(q, "baggage")).toBe("k=v");
    // The same call inside the mesh carries the lane.
    const r2 = await request(`http://127.0.0.1:${sc.outbound}/`, {
      headers: { host: "inside:9080", ...headers },
      dispatcher: agent,
    });
    await r2.body.text();
    expect(laneHeaders(internal.requests[0]!)).toEqual([`${LABEL}: gray`]);
  });
});

describe("lane spoofing at a gateway no TrafficLabel selects", () => {
  // Issue 11 item 5: the TrafficLabels select app workloads only (and one lives in another
  // namespace), so the gateway resolves no label itself; their label names are still lanes.
  const OTHER = "x-team-lane";
  let prod: RecordingUpstream;
  let gray: RecordingUpstream;
  let gw: Started;

  beforeAll(async () => {
    prod = await startRecordingUpstream("echo");
    gray = await startRecordingUpstream("echo");
    const route = `route: [{destination: {host: web, subset: prod}}]`;
    gw = await startGatewayProcess({
      yaml: [
        `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  workloadSelector: {labels: {app: front}}
  rules:
  - labels:
    - name: ${LABEL}
      valueFrom: [$getInboundRequestHeader(${LABEL})]
    attachTo: [opentracing]`,
        `apiVersion: istio.alibabacloud.com/v1
kind: TrafficLabel
metadata: {name: team, namespace: other}
spec:
  workloadSelector: {labels: {app: back}}
  rules:
  - labels:
    - name: ${OTHER}
      valueFrom: [$getInboundRequestHeader(${OTHER})]`,
        EDGE_GATEWAY,
        serviceEntry("web", [
          { port: prod.port, labels: { ASM_TRAFFIC_TAG: "prod" } },
          { port: gray.port, labels: { ASM_TRAFFIC_TAG: "gray" } },
        ]),
        laneSubsets("web"),
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - name: testers
    match: [{uri: {prefix: /granted}, headers: {${LABEL}: {regex: "[a-z]+"}}}]
    route: [{destination: {host: web, subset: gray}}]
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    headers: {request: {set: {${LABEL}: gray}}}
    route: [{destination: {host: web, subset: gray}}]
  - name: default
    ${route}`,
      ],
    });
  });
  afterAll(async () => {
    await gw?.stop();
    await prod?.close();
    await gray?.close();
  });

  const teamHeaders = (q: ParsedRequest) =>
    q.headers.filter(([k]) => k.toLowerCase().replaceAll("_", "-") === OTHER).map(([k, v]) => `${k}: ${v}`);

  const spoofs: [string, Record<string, string>][] = [
    ["the lane header", { [LABEL]: "gray" }],
    ["the lane header in another case", { "X-ASM-Prefer-Tag": "gray" }],
    ["the lane header with underscores", { X_ASM_PREFER_TAG: "gray" }],
    ["a lane baggage member", { baggage: `X_Asm_Prefer_Tag=gray,k=v` }],
    ["another namespace's label", { [OTHER]: "gray", X_TEAM_LANE: "gray" }],
    ["another namespace's label as baggage", { baggage: `k=v,${OTHER}=gray` }],
  ];
  for (const [what, headers] of spoofs) {
    it(`${what} is removed when no route grants the lane`, async () => {
      prod.reset();
      gray.reset();
      expect(await send(gw.port, "/other", headers)).toBe(200);
      expect(prod.requests).toHaveLength(1);
      expect(await grayBarrier(gw.port, gray)).toEqual([]);
      const q = prod.requests[0]!;
      expect(laneHeaders(q)).toEqual([]);
      expect(laneMembers(q)).toEqual([]);
      expect(teamHeaders(q)).toEqual([]);
      expect(header(q, "baggage") ?? "").not.toContain(OTHER);
      if (headers.baggage) expect(header(q, "baggage")).toContain("k=v");
    });
  }

  it("a route that tests the lane header grants the client's value (one header)", async () => {
    gray.reset();
    expect(await send(gw.port, "/granted", { [LABEL]: "gray", x_asm_prefer_tag: "dev" })).toBe(200);
    expect(gray.requests).toHaveLength(1);
    expect(laneHeaders(gray.requests[0]!)).toEqual([`${LABEL}: gray`]);
  });

  it("a route that sets the lane grants it, whatever the client sent", async () => {
    gray.reset();
    expect(await send(gw.port, "/x", { "end-user": "jason", [LABEL]: "dev" })).toBe(200);
    expect(gray.requests).toHaveLength(1);
    expect(laneHeaders(gray.requests[0]!)).toEqual([`${LABEL}: gray`]);
  });
});
