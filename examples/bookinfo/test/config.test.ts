/**
 * The checked-in Istio/ASM config: it validates through the real CLI (process mode and
 * docker-compose), the gateway decides lanes as the README says, and every hop's lane subset
 * reaches the instances topology.ts puts in that lane — or falls back to prod.
 *
 * Routing decisions are asked of @lanecar/core's `explain` in-process (what `lanecar explain`
 * prints), so the matrix costs no process per case; one case goes through the CLI as well.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ConfigSnapshot,
  type Explanation,
  explain,
  formatDiagnostic,
  loadSnapshot,
} from "../../../packages/core/src/index.js";
import {
  CONFIG_DIRS,
  exampleFile,
  GATEWAY,
  INSTANCES,
  LANES,
  NAMESPACE,
  podLabelsFlag,
  SERVICES,
  type ServiceName,
} from "../src/topology.js";
import { buildCli, explainFailure, lanecar } from "./support/lanecar-cli.js";

const PROCESS_CONFIG = ["examples/bookinfo/config"];
const COMPOSE_CONFIG = [
  `examples/bookinfo/${CONFIG_DIRS.shared}`,
  `examples/bookinfo/${CONFIG_DIRS.compose}`,
];
const GATEWAY_CONTEXT = `${NAMESPACE}/${GATEWAY.name}`;

const fq = (s: string) => `${s}.${NAMESPACE}.svc.cluster.local`;

function load(paths: readonly string[]): ConfigSnapshot {
  const { snapshot, diagnostics } = loadSnapshot(paths, { namespace: NAMESPACE });
  if (!snapshot) throw new Error(diagnostics.map(formatDiagnostic).join("\n"));
  return snapshot;
}

let processSnap: ConfigSnapshot;
let composeSnap: ConfigSnapshot;

beforeAll(() => {
  buildCli();
  processSnap = load([exampleFile("config")]);
  composeSnap = load([exampleFile(CONFIG_DIRS.shared), exampleFile(CONFIG_DIRS.compose)]);
}, 120_000);

/** A request arriving at bookinfo-gateway; `rand` fixes the weighted draw. */
function atGateway(path: string, headers: Record<string, string> = {}, rand?: () => number): Explanation {
  return explain(processSnap, {
    request: `GET http://localhost:${GATEWAY.listen.port}${path}`,
    headers,
    namespace: NAMESPACE,
    podLabels: GATEWAY.podLabels,
    context: GATEWAY_CONTEXT,
    ...(rand ? { rand } : {}),
  });
}

/** An outbound call from a pod in `lane` to `service`. */
function fromLane(
  snap: ConfigSnapshot,
  service: ServiceName,
  lane: string,
  headers: Record<string, string> = {},
): Explanation {
  return explain(snap, {
    request: `GET http://${service}:9080/`,
    headers,
    namespace: NAMESPACE,
    podLabels: { app: "sleep", ASM_TRAFFIC_TAG: lane },
  });
}

describe("lanecar validate", () => {
  it("accepts examples/bookinfo/config (process mode) with no error and no warning", async () => {
    const r = await lanecar(["validate", ...PROCESS_CONFIG]);
    expect(r.code, explainFailure(r)).toBe(0);
    expect(r.stdout).toMatch(/^valid: \d+ resources in \d+ files/);
    expect(r.stderr).toBe("");
  });

  it("accepts config/shared + config-compose (docker-compose) with no error and no warning", async () => {
    const r = await lanecar(["validate", ...COMPOSE_CONFIG]);
    expect(r.code, explainFailure(r)).toBe(0);
    expect(r.stderr).toBe("");
  });
});

describe("the gateway decides the lane", () => {
  it("lanecar explain --gateway shows jason going gray", async () => {
    const r = await lanecar([
      "explain",
      "--config",
      PROCESS_CONFIG[0]!,
      "--gateway",
      GATEWAY.name,
      "--pod-labels",
      podLabelsFlag(GATEWAY.podLabels),
      "--request",
      "GET http://localhost:8080/productpage",
      "-H",
      "end-user: jason",
      "--json",
    ]);
    expect(r.code, explainFailure(r)).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.rule).toBe("bookinfo/jason-is-gray");
    expect(e.destination).toEqual({ host: fq("productpage"), subset: "gray" });
  });

  it("a client-sent x-asm-prefer-tag keeps its lane (dev has no productpage: falls back to prod, label kept)", () => {
    const gray = atGateway("/productpage", { "x-asm-prefer-tag": "gray" });
    expect(gray.rule).toBe("bookinfo/lane-from-header");
    expect(gray.labels).toEqual({ "x-asm-prefer-tag": "gray" });
    expect(gray.destination).toEqual({ host: fq("productpage"), subset: "gray" });
    expect(gray.fallback).toBeNull();
    const dev = atGateway("/api/v1/lanes", { "x-asm-prefer-tag": "dev" });
    expect(dev.labels).toEqual({ "x-asm-prefer-tag": "dev" });
    expect(dev.fallback).toMatchObject({
      reason: "noinstances",
      to: { host: fq("productpage"), subset: "prod" },
    });
    expect(dev.endpoints.map((e) => e.labels.version)).toEqual(["v1"]);
  });

  it("end-user: jason (header, or the sign-in cookie) goes gray", () => {
    for (const headers of [{ "end-user": "jason" }, { cookie: "lane=prod; user=jason" }] as Record<
      string,
      string
    >[]) {
      const e = atGateway("/productpage", headers);
      expect(e.rule, JSON.stringify(headers)).toBe("bookinfo/jason-is-gray");
      expect(e.destination).toEqual({ host: fq("productpage"), subset: "gray" });
      expect(e.endpoints.map((x) => x.labels.version)).toEqual(["v2"]);
    }
    expect(atGateway("/productpage", { cookie: "user=jasonx" }).rule).toBe("bookinfo/new-visitors");
  });

  it("a lane cookie from an earlier visit keeps the lane (sticky)", () => {
    const gray = atGateway("/productpage", { cookie: "a=1; lane=gray" });
    expect(gray.rule).toBe("bookinfo/sticky-gray");
    expect(gray.destination?.subset).toBe("gray");
    const prod = atGateway("/productpage", { cookie: "lane=prod" });
    expect(prod.rule).toBe("bookinfo/sticky-prod");
    expect(prod.destination?.subset).toBe("prod");
  });

  it("new visitors: 90% prod, 10% gray; a malformed lane header does not count", () => {
    for (const headers of [{}, { "x-asm-prefer-tag": "not a lane" }, { "end-user": "alice" }] as Record<
      string,
      string
    >[]) {
      expect(atGateway("/productpage", headers, () => 0.5).rule, JSON.stringify(headers)).toBe(
        "bookinfo/new-visitors",
      );
      expect(atGateway("/productpage", headers, () => 0.5).labels).toEqual({});
    }
    expect(atGateway("/productpage", {}, () => 0.89).destination?.subset).toBe("prod");
    expect(atGateway("/productpage", {}, () => 0.9).destination?.subset).toBe("gray");
  });

  it("serves only Bookinfo's pages: anything else is 404 NR", () => {
    for (const path of ["/health", "/productpage/x", "/static/x.css"]) {
      const e = atGateway(path);
      expect(e.status, path).toBe(404);
      expect(e.flag).toBe("NR");
    }
    for (const path of ["/productpage", "/login", "/logout", "/api/v1/products/0", "/api/v1/lanes"]) {
      expect(atGateway(path, {}, () => 0).rule, path).toBe("bookinfo/new-visitors");
    }
  });
});

describe("every hop goes to its lane, or falls back to prod", () => {
  const check = (mode: "process" | "compose", service: ServiceName, lane: string) => {
    const inLane = INSTANCES.filter((i) => i.service === service && i.lane === lane);
    const target =
      inLane.length > 0 ? inLane : INSTANCES.filter((i) => i.service === service && i.lane === "prod");
    it(`${mode}: a ${lane} pod calling ${service} reaches ${target.map((i) => i.name).join(", ")}`, () => {
      const e = fromLane(mode === "process" ? processSnap : composeSnap, service, lane);
      expect(e.rule).toBe(`${service}/by-lane`);
      expect(e.labels).toEqual({ "x-asm-prefer-tag": lane });
      expect(e.destination).toEqual({ host: fq(service), subset: lane });
      if (inLane.length > 0) expect(e.fallback).toBeNull();
      else
        expect(e.fallback).toMatchObject({
          reason: "noinstances",
          to: { host: fq(service), subset: "prod" },
        });
      const want = target
        .map((i) => (mode === "process" ? `127.0.0.1:${i.ports.inbound}` : `${i.name}:15006`))
        .sort();
      expect(e.endpoints.map((x) => `${x.address}:${x.port}`).sort()).toEqual(want);
      for (const x of e.endpoints) {
        const i = INSTANCES.find((t) => t.service === service && t.version === x.labels.version);
        expect(x.labels).toEqual({ app: service, version: i?.version, ASM_TRAFFIC_TAG: i?.lane });
      }
    });
  };
  for (const mode of ["process", "compose"] as const) {
    for (const service of SERVICES) for (const l of LANES) check(mode, service, l.name);
  }

  it("an app cannot pick its lane by sending the lane header itself: a prod pod stays prod", () => {
    const e = fromLane(processSnap, "reviews", "prod", { "x-asm-prefer-tag": "gray" });
    expect(e.labels).toEqual({ "x-asm-prefer-tag": "prod" });
    expect(e.endpoints.map((x) => x.labels.version)).toEqual(["v1"]);
  });
});
