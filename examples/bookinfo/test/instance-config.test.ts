/**
 * config/process/*.yaml are what the demo runner generates for the default port plan: the
 * checked-in files and the generator (used with free ports by the tests) cannot drift apart.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { instanceConfigYaml } from "../src/demo/instance-config.js";
import { exampleFile, INSTANCES, instanceConfigFile } from "../src/topology.js";

describe("process-mode instance config", () => {
  for (const i of INSTANCES) {
    it(`${instanceConfigFile(i)} is instanceConfigYaml(${i.name})`, () => {
      expect(readFileSync(exampleFile(instanceConfigFile(i)), "utf8")).toBe(instanceConfigYaml(i));
    });
  }

  it("puts other ports where the plan's were", () => {
    const i = INSTANCES.find((x) => x.name === "reviews-v2")!;
    const y = instanceConfigYaml(i, { app: 1, inbound: 2, outbound: 3, admin: 4 });
    expect(y).toContain("ports: { http: 2 }");
    expect(y).toContain("httpGet: { path: /health, port: 2 }");
    expect(y).not.toContain(String(i.ports.inbound));
  });
});
