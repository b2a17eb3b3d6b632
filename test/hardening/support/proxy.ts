/**
 * Starts real `lanecar sidecar` / `lanecar gateway` processes for hardening tests, with their
 * config written to a temp dir, and builds the small YAML pieces those configs need.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Running, startLanecar } from "../../support/lanecar.js";
import { freePorts } from "../../support/ports.js";
import { EDGE_GATEWAY, LANES_LABEL } from "../../support/yaml.js";

export interface Started {
  running: Running;
  pid: number;
  dir: string;
  configPath: string;
  admin: string;
  /** Sidecar: inbound port; gateway: listen port. */
  port: number;
  /** Sidecar only. */
  outbound: number;
  stop(): Promise<void>;
}

export { LANES_LABEL };

export interface EndpointSpec {
  port: number;
  labels?: Record<string, string>;
}

/** A ServiceEntry for `host` on port 9080 with loopback endpoints. */
export function serviceEntry(host: string, endpoints: EndpointSpec[], location = "MESH_INTERNAL"): string {
  const eps = endpoints
    .map((e) => {
      const labels = Object.entries(e.labels ?? { ASM_TRAFFIC_TAG: "prod" })
        .map(([k, v]) => `${k}: ${v}`)
        .join(", ");
      return `  - {address: 127.0.0.1, ports: {http: ${e.port}}, labels: {${labels}}}`;
    })
    .join("\n");
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.replace(/[^a-z0-9-]/g, "-")}}
spec:
  hosts: [${host}]
  location: ${location}
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
${eps}`;
}

export function writeConfig(yaml: string | string[]): { dir: string; configPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-hard-"));
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, `${Array.isArray(yaml) ? yaml.join("\n---\n") : yaml}\n`);
  return { dir, configPath };
}

export async function startSidecarProcess(o: {
  yaml: string | string[];
  appPort: number;
  service?: string;
  podLabels?: string;
  args?: string[];
  env?: Record<string, string>;
}): Promise<Started> {
  const { dir, configPath } = writeConfig(o.yaml);
  const [inbound, outbound, admin] = (await freePorts(3)) as [number, number, number];
  const running = await startLanecar(
    [
      "sidecar",
      "--config",
      configPath,
      "--service",
      o.service ?? "a",
      ...(o.podLabels === "" ? [] : ["--pod-labels", o.podLabels ?? "app=a,version=v1,ASM_TRAFFIC_TAG=prod"]),
      "--inbound",
      `127.0.0.1:${inbound}`,
      "--outbound",
      `127.0.0.1:${outbound}`,
      "--app",
      `http://127.0.0.1:${o.appPort}`,
      ...(o.args ?? []),
    ],
    `127.0.0.1:${admin}`,
    o.env,
  );
  return started(running, dir, configPath, admin, inbound, outbound);
}

export async function startGatewayProcess(o: {
  yaml: string | string[];
  args?: string[];
  env?: Record<string, string>;
}): Promise<Started> {
  const { dir, configPath } = writeConfig(o.yaml);
  const [listen, admin] = (await freePorts(2)) as [number, number];
  const running = await startLanecar(
    ["gateway", "--config", configPath, "--listen", `127.0.0.1:${listen}`, ...(o.args ?? [])],
    `127.0.0.1:${admin}`,
    o.env,
  );
  return started(running, dir, configPath, admin, listen, 0);
}

function started(
  running: Running,
  dir: string,
  configPath: string,
  admin: number,
  port: number,
  outbound: number,
): Started {
  return {
    running,
    pid: running.child.pid!,
    dir,
    configPath,
    admin: `127.0.0.1:${admin}`,
    port,
    outbound,
    stop: async () => {
      await running.stop("SIGKILL");
    },
  };
}

/** The process is still running (it did not crash). */
export function alive(s: Started): boolean {
  return s.running.child.exitCode === null && s.running.child.signalCode === null;
}

/** A DestinationRule with the `prod` and `gray` lane subsets of `host`. */
export function laneSubsets(host: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host.replace(/[^a-z0-9-]/g, "-")}}
spec:
  host: ${host}
  subsets:
  - {name: prod, labels: {ASM_TRAFFIC_TAG: prod}}
  - {name: gray, labels: {ASM_TRAFFIC_TAG: gray}}`;
}

/**
 * A sidecar (inbound → the upstream as its app; outbound → service `up`) and a gateway routing
 * every host to `up`: all three listeners in front of one upstream.
 */
export async function startListenersFor(upPort: number): Promise<{ sc: Started; gw: Started }> {
  const up = serviceEntry("up", [{ port: upPort }]);
  const [sc, gw] = await Promise.all([
    startSidecarProcess({ yaml: up, appPort: upPort }),
    startGatewayProcess({
      yaml: [
        up,
        EDGE_GATEWAY,
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http: [{route: [{destination: {host: up}}]}]`,
      ],
    }),
  ]);
  return { sc, gw };
}
