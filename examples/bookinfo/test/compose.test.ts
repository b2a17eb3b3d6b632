/**
 * docker-compose.yml: docker-compose accepts it, and it has one app + sidecar "pod" per
 * instance of topology.ts (sidecar in the app's network namespace, labels and ports of SPEC
 * section 7) and the gateway publishing 8080, with mutual TLS: identity-init issues every
 * workload's identity into a volume of its own (its script is run here, with the real `lanecar ca`),
 * each proxy mounts only its own read-only, and every flag used is one the CLI has. Needs
 * docker-compose (Debian: `apt-get install docker-compose`) or the `docker compose` plugin; no
 * Docker daemon is used.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  exampleFile,
  GATEWAY,
  INSTANCES,
  podLabels,
  podLabelsFlag,
  serviceAccountOf,
  spiffeIdOf,
} from "../src/topology.js";
import { buildCli, LANECAR_BIN, lanecar } from "./support/lanecar-cli.js";

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
    expect(services).toEqual(
      [...INSTANCES.flatMap((i) => [i.name, `${i.name}-sidecar`]), "gateway", "identity-init"].sort(),
    );
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
    expect(count("/config/security:/config/security:ro\n")).toBe(INSTANCES.length + 1);
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

  it("runs every proxy with mutual TLS: its own identity volume, read-only, --identity-dir", () => {
    const count = (x: string) => normalized.split(x).length - 1;
    expect(count("- --identity-dir=/identity\n")).toBe(INSTANCES.length + 1);
    // STRICT comes from config/security's PeerAuthentication, not from a flag.
    expect(count("--mtls-mode")).toBe(0);
    const config = parse(normalized) as {
      services: Record<string, { volumes?: string[]; depends_on?: Record<string, { condition: string }> }>;
    };
    for (const name of [...INSTANCES.map((i) => `${i.name}-sidecar`), "gateway"]) {
      const own = name === "gateway" ? "identity-gateway" : `identity-${name.replace(/-sidecar$/, "")}`;
      const svc = config.services[name]!;
      expect(
        svc.volumes?.filter((v) => v.startsWith("identity")),
        name,
      ).toEqual([`${own}:/identity:ro`]);
      expect(svc.depends_on?.["identity-init"]?.condition, name).toBe("service_completed_successfully");
    }
    // The root key is only where identities are issued.
    for (const [name, svc] of Object.entries(config.services))
      if (name !== "identity-init")
        expect((svc.volumes ?? []).some((v) => v.startsWith("identity-ca:"))).toBe(false);
  });

  it("uses only flags the lanecar CLI has", async () => {
    buildCli();
    const config = parse(normalized) as { services: Record<string, { command?: string[] }> };
    const help: Record<string, string> = {};
    for (const cmd of ["sidecar", "gateway"]) help[cmd] = (await lanecar([cmd, "--help"])).stdout;
    let checked = 0;
    for (const [name, svc] of Object.entries(config.services)) {
      const [cmd, ...args] = svc.command ?? [];
      if (cmd !== "sidecar" && cmd !== "gateway") continue;
      for (const a of args) {
        const flag = /^(--[a-z-]+)=/.exec(a)?.[1];
        expect(flag, `${name}: ${a}`).toBeDefined();
        expect(help[cmd], `${name}: lanecar ${cmd} has no ${flag}`).toContain(`${flag} `);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(INSTANCES.length * 8);
  });

  it("identity-init's script, run with the real lanecar, issues every workload's identity", async () => {
    buildCli();
    const init = (parse(readFileSync(FILE, "utf8")) as { services: Record<string, { command: string[] }> })
      .services["identity-init"]!;
    // Compose turns $$ into $; the volumes' mount points become folders of a temp dir here.
    const dir = mkdtempSync(join(tmpdir(), "lanecar-compose-identity-"));
    const script = init.command[0]!.replaceAll("$$", "$")
      .replaceAll("/ca", `${dir}/ca`)
      .replaceAll("/identity/", `${dir}/identity/`);
    const run = () =>
      execFileSync("sh", ["-ec", `lanecar() { "${process.execPath}" "${LANECAR_BIN}" "$@"; }\n${script}`], {
        encoding: "utf8",
        stdio: "pipe",
        timeout: 60_000,
      });
    run();
    const sanOf = (d: string) => new X509Certificate(readFileSync(join(d, "cert.pem"))).subjectAltName;
    const root = readFileSync(join(dir, "ca", "root-cert.pem"), "utf8");
    for (const i of INSTANCES) {
      const d = join(dir, "identity", i.name);
      expect(sanOf(d), i.name).toBe(`URI:${spiffeIdOf(i)}`);
      expect(spiffeIdOf(i)).toContain(`/sa/${serviceAccountOf(i.service)}`);
      expect(readFileSync(join(d, "root-cert.pem"), "utf8")).toBe(root);
      expect(statSync(join(d, "key.pem")).mode & 0o077, `${i.name} key.pem is private`).toBe(0);
    }
    expect(sanOf(join(dir, "identity", "gateway"))).toBe(
      `URI:spiffe://cluster.local/ns/${GATEWAY.identity.namespace}/sa/${GATEWAY.identity.serviceAccount}`,
    );
    // A second `up` keeps the root and issues fresh certificates from it.
    const before = readFileSync(join(dir, "identity", "reviews-v2", "cert.pem"), "utf8");
    run();
    expect(readFileSync(join(dir, "ca", "root-cert.pem"), "utf8")).toBe(root);
    expect(readFileSync(join(dir, "identity", "reviews-v2", "cert.pem"), "utf8")).not.toBe(before);
  }, 120_000);
});
