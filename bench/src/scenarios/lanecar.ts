/**
 * Starting Lanecar the way users do — `node packages/cli/bin/lanecar.js sidecar|gateway` with
 * the flags of SPEC section 7 — on generated config folders. Until the CLI can serve, these
 * scenarios report "unavailable" with the CLI's own words instead of failing the run.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LANECAR_BIN, REPO_ROOT } from "../paths.js";
import { type Child, freePort, httpGet, startChild, waitHttp } from "../proc.js";

/** The service every Lanecar scenario calls: short host `upstream`, service port 8080. */
export const SERVICE = "upstream";
export const SERVICE_PORT = 8080;
export const SERVICE_AUTHORITY = `${SERVICE}:${SERVICE_PORT}`;

export function lanecarUnavailable(): string | undefined {
  if (!existsSync(LANECAR_BIN)) return `${LANECAR_BIN} is missing`;
  if (process.env.LANECAR_BENCH_BIN) return undefined;
  if (!existsSync(join(REPO_ROOT, "packages", "cli", "dist", "main.js")))
    return "packages/cli is not built (pnpm install runs tsc -b)";
  return undefined;
}

/** A ServiceEntry with one endpoint on loopback (`serviceAccount`: the workload's, for mTLS peers). */
export function serviceEntry(
  host: string,
  endpointPort: number,
  labels: Record<string, string>,
  serviceAccount?: string,
): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
  const sa = serviceAccount ? `, serviceAccount: ${serviceAccount}` : "";
  return `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${SERVICE_PORT}, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${endpointPort}}, labels: {${l}}${sa}}
`;
}

/** Writes `docs` as one multi-document YAML file in a new folder; returns the folder. */
export function writeConfig(dir: string, docs: string[]): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.yaml"), docs.join("---\n"));
  return dir;
}

export interface LanecarProcess {
  child: Child;
  admin: string;
}

/**
 * Extra `node` flags for every Lanecar process, from `LANECAR_BENCH_NODE_ARGS` (space-separated),
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile (Node refuses `--cpu-prof` in NODE_OPTIONS).
 */
function nodeArgs(): string[] {
  return (process.env.LANECAR_BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
}

/** Starts `lanecar <mode> ...args --admin 127.0.0.1:<free>` and waits for `/ready` 200. */
export async function startLanecar(
  name: string,
  mode: "sidecar" | "gateway",
  args: string[],
  env: Record<string, string> = {},
  readyTimeoutMs = 15_000,
): Promise<LanecarProcess> {
  const adminPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const child = startChild(
    name,
    process.execPath,
    [...nodeArgs(), LANECAR_BIN, mode, ...args, "--admin", `127.0.0.1:${adminPort}`],
    {
      cwd: REPO_ROOT,
      env: { ...env, NODE_ENV: "production" },
    },
  );
  try {
    await waitHttp(child, `${admin}/ready`, { timeoutMs: readyTimeoutMs });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, admin };
}

export interface SidecarPorts {
  inbound: number;
  outbound: number;
}

/** Fresh loopback ports for a sidecar's inbound and outbound listeners. */
export async function sidecarPorts(): Promise<SidecarPorts> {
  return { inbound: await freePort(), outbound: await freePort() };
}

/** The sidecar flags of SPEC section 7. */
export function sidecarArgs(
  ports: SidecarPorts,
  config: string,
  service: string,
  podLabels: string,
  appUrl: string,
): string[] {
  return [
    "--config",
    config,
    "--service",
    service,
    "--namespace",
    "default",
    "--pod-labels",
    podLabels,
    "--inbound",
    `127.0.0.1:${ports.inbound}`,
    "--app",
    appUrl,
    "--outbound",
    `127.0.0.1:${ports.outbound}`,
  ];
}

/** Lanecar's own metric lines worth a note (correlation hits, requests), from `/metrics`. */
export async function metricNotes(admin: string, prefixes: string[]): Promise<string[]> {
  try {
    const r = await httpGet(`${admin}/metrics`);
    if (r.status !== 200) return [`/metrics answered ${r.status}`];
    const lines = r.body
      .split("\n")
      .filter((l) => !l.startsWith("#") && prefixes.some((p) => l.startsWith(p)));
    return lines.length > 0 ? lines.slice(0, 6) : [`/metrics has no ${prefixes.join(", ")}`];
  } catch (err) {
    return [`/metrics: ${(err as Error).message}`];
  }
}
