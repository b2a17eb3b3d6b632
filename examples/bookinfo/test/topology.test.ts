/**
 * topology.ts is the one place the runner, the tests and the README read ports and lanes from:
 * the port plan holds together, and the checked-in per-instance YAML says the same thing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFINITIONS } from "../src/services/server.js";
import {
  appEnv,
  BASELINE_LANE,
  CONFIG_DIRS,
  exampleFile,
  GATEWAY,
  gatewayArgs,
  INSTANCES,
  instanceConfigFile,
  LANES,
  laneOf,
  podLabels,
  SERVICES,
  sidecarArgs,
} from "../src/topology.js";

describe("the port plan", () => {
  it("gives every instance four distinct ports, none shared with another instance or the gateway", () => {
    const all = [
      GATEWAY.listen.port,
      GATEWAY.admin.port,
      ...INSTANCES.flatMap((i) => Object.values(i.ports)),
    ];
    expect(new Set(all).size).toBe(all.length);
    // Lanecar's own defaults stay free, so a sidecar started without flags cannot collide.
    for (const reserved of [15001, 15006, 9080]) expect(all).not.toContain(reserved);
  });

  it("follows app 91xx · inbound 151xx · outbound 152xx · admin 153xx with the same xx per instance", () => {
    for (const i of INSTANCES) {
      const slot = i.ports.app - 9100;
      expect(slot, i.name).toBeGreaterThan(0);
      expect(slot, i.name).toBeLessThan(100);
      expect(i.ports, i.name).toEqual({
        app: 9100 + slot,
        inbound: 15100 + slot,
        outbound: 15200 + slot,
        admin: 15300 + slot,
      });
    }
  });

  it("puts the gateway on 127.0.0.1:8080 with its admin API on 127.0.0.1:15000", () => {
    expect(GATEWAY.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(GATEWAY.admin).toEqual({ host: "127.0.0.1", port: 15000 });
    const args = gatewayArgs(["examples/bookinfo/config"]);
    expect(args.slice(0, 3)).toEqual(["gateway", "--config", "examples/bookinfo/config"]);
    expect(args).toEqual(
      expect.arrayContaining([
        "--gateway",
        "bookinfo-gateway",
        "--listen",
        "127.0.0.1:8080",
        "--admin",
        "127.0.0.1:15000",
      ]),
    );
  });
});

describe("services, versions and lanes", () => {
  it("has one instance per service and version, each a version the service code can play", () => {
    expect(new Set(INSTANCES.map((i) => i.name)).size).toBe(INSTANCES.length);
    for (const i of INSTANCES) {
      expect(Object.keys(DEFINITIONS[i.service].versions), i.name).toContain(i.version);
      expect(laneOf(i.service, i.version)).toBe(i.lane);
    }
  });

  it("starts exactly the baseline lane in the first tour step, and every service has a baseline instance", () => {
    for (const i of INSTANCES) expect(i.baseline, i.name).toBe(i.lane === BASELINE_LANE);
    for (const s of SERVICES)
      expect(
        INSTANCES.some((i) => i.service === s && i.baseline),
        s,
      ).toBe(true);
  });

  it("knows the seed's versions: reviews v1/v2/v3 in prod/gray/dev, ratings and productpage v1/v2 in prod/gray", () => {
    expect(INSTANCES.map((i) => `${i.name}:${i.lane}`).sort()).toEqual(
      [
        "details-v1:prod",
        "productpage-v1:prod",
        "productpage-v2:gray",
        "ratings-v1:prod",
        "ratings-v2:gray",
        "reviews-v1:prod",
        "reviews-v2:gray",
        "reviews-v3:dev",
      ].sort(),
    );
    expect(LANES.map((l) => l.name)).toEqual(["prod", "gray", "dev"]);
  });

  it("builds the sidecar command line and app environment of SPEC section 7", () => {
    const i = INSTANCES.find((x) => x.name === "reviews-v2")!;
    expect(sidecarArgs(i, ["/cfg/a", "/cfg/b"])).toEqual([
      "sidecar",
      "--config",
      "/cfg/a",
      "--config",
      "/cfg/b",
      "--service",
      "reviews",
      "--namespace",
      "default",
      "--pod-labels",
      "app=reviews,version=v2,ASM_TRAFFIC_TAG=gray",
      "--inbound",
      "127.0.0.1:15122",
      "--app",
      "http://127.0.0.1:9122",
      "--outbound",
      "127.0.0.1:15222",
      "--admin",
      "127.0.0.1:15322",
    ]);
    expect(appEnv(i)).toEqual({
      SERVICE: "reviews",
      VERSION: "v2",
      PORT: "9122",
      BIND: "127.0.0.1",
      HTTP_PROXY: "http://127.0.0.1:15222",
    });
  });
});

describe("the checked-in per-instance config agrees", () => {
  const read = (p: string) => readFileSync(exampleFile(p), "utf8");
  const labelsText = (i: (typeof INSTANCES)[number]) =>
    `labels: { ${Object.entries(podLabels(i))
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ")} }`;

  it("has exactly one process-mode and one compose file per instance", () => {
    const names = INSTANCES.map((i) => `${i.name}.yaml`).sort();
    expect(readdirSync(exampleFile(CONFIG_DIRS.process)).sort()).toEqual(names);
    expect(readdirSync(exampleFile(CONFIG_DIRS.compose)).sort()).toEqual(names);
  });

  for (const i of INSTANCES) {
    it(`${i.name}: WorkloadEntry on its sidecar inbound, probe through the sidecar, pod labels`, () => {
      const proc = read(instanceConfigFile(i));
      expect(proc).toContain(
        `kind: WorkloadEntry\nmetadata: { name: ${i.name} }\nspec:\n  address: 127.0.0.1\n  ports: { http: ${i.ports.inbound} }\n  ${labelsText(i)}\n`,
      );
      expect(proc).toContain(`kind: WorkloadGroup\nmetadata: { name: ${i.name} }`);
      expect(proc).toContain(`labels: { app: ${i.service}, version: ${i.version} }`);
      expect(proc).toContain(`httpGet: { path: /health, port: ${i.ports.inbound} }`);
      const comp = read(`${CONFIG_DIRS.compose}/${i.name}.yaml`);
      expect(comp).toContain(`spec:\n  address: ${i.name}\n  ports: { http: 15006 }\n  ${labelsText(i)}\n`);
      expect(comp).toContain("httpGet: { path: /health, port: 15006 }");
    });
  }
});
