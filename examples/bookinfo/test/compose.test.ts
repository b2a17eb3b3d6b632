/**
 * docker-compose.yml: docker-compose accepts it, and it has one app + sidecar "pod" per
 * instance of topology.ts (sidecar in the app's network namespace, labels and ports of SPEC
 * section 7) and the gateway publishing 8080. Needs docker-compose (Debian: `apt-get install
 * docker-compose`) or the `docker compose` plugin; no Docker daemon is used.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { exampleFile, GATEWAY, INSTANCES, podLabels, podLabelsFlag } from "../src/topology.js";

const FILE = exampleFile("docker-compose.yml");

/** `docker-compose` (v1) or `docker compose` (v2), whichever is installed. */
function composeCommand(): string[] | undefined {
  if (spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0) return ["docker-compose"];
  if (spawnSync("docker", ["compose", "version"], { stdio: "ignore" }).status === 0)
    return ["docker", "compose"];
  return undefined;
}

let compose: string[];
let normalized: string;

function run(args: string[]): string {
  const [cmd, ...pre] = compose;
  return execFileSync(cmd!, [...pre, "-f", FILE, ...args], {
    encoding: "utf8",
    stdio: "pipe",
    timeout: 30_000,
  });
}

beforeAll(() => {
  const c = composeCommand();
  if (!c)
    throw new Error(
      "docker-compose is not installed: run `apt-get install -y docker-compose` (or install the docker compose plugin)",
    );
  compose = c;
  normalized = run(["config"]);
}, 60_000);

describe("docker-compose.yml", () => {
  it("passes `docker-compose config -q`", () => {
    expect(() => run(["config", "-q"])).not.toThrow();
  });

  it("has an app and a sidecar per instance, and the gateway", () => {
    const services = run(["config", "--services"]).trim().split("\n").sort();
    expect(services).toEqual([...INSTANCES.flatMap((i) => [i.name, `${i.name}-sidecar`]), "gateway"].sort());
  });

  for (const i of INSTANCES) {
    it(`${i.name}: the sidecar shares the app's network namespace and carries its pod labels`, () => {
      expect(normalized).toContain(`network_mode: service:${i.name}\n`);
      expect(normalized).toContain(`- --pod-labels=${podLabelsFlag(podLabels(i))}\n`);
      expect(normalized).toMatch(
        new RegExp(`- --service\\n\\s+- ${i.service}\\n\\s+- --version\\n\\s+- ${i.version}\\n`),
      );
    });
  }

  it("wires each pod as SPEC section 7 says: inbound 0.0.0.0:15006, app 127.0.0.1:9080, HTTP_PROXY = outbound", () => {
    const count = (s: string) => normalized.split(s).length - 1;
    expect(count("- --inbound=0.0.0.0:15006\n")).toBe(INSTANCES.length);
    expect(count("- --app=http://127.0.0.1:9080\n")).toBe(INSTANCES.length);
    expect(count("- --outbound=127.0.0.1:15001\n")).toBe(INSTANCES.length);
    expect(count("- --admin=127.0.0.1:15000\n")).toBe(INSTANCES.length);
    expect(count("HTTP_PROXY: http://127.0.0.1:15001\n")).toBe(INSTANCES.length);
    expect(count("- --config=/config\n")).toBe(INSTANCES.length + 1);
    expect(normalized).toContain("/config-compose:/config/instances:ro");
    expect(normalized).toContain("/config/shared:/config/shared:ro");
  });

  it("runs the gateway for bookinfo-gateway, publishing 8080", () => {
    expect(normalized).toContain(`- --gateway=${GATEWAY.name}\n`);
    expect(normalized).toContain("- --listen=0.0.0.0:8080\n");
    expect(normalized).toMatch(/published: 8080|8080:8080/);
  });

  it("builds one image from the repository root with examples/bookinfo/Dockerfile", () => {
    expect(normalized).toContain("dockerfile: examples/bookinfo/Dockerfile");
    expect(normalized).toMatch(/context: \/.+\n/);
    const contexts = new Set([...normalized.matchAll(/context: (.+)\n/g)].map((m) => m[1]));
    expect(contexts.size).toBe(1);
    expect(`${[...contexts][0]}/examples/bookinfo/docker-compose.yml`).toBe(FILE);
  });
});
