/**
 * The probe rewrite of injection, as Istio's injector does it: kubelet probes the app in
 * plaintext from the node, and the app's port is captured to the sidecar, whose inbound refuses
 * plaintext under mutual TLS STRICT. So each app container's `httpGet` probe (readiness,
 * liveness, startup; scheme HTTP, no `host`) is pointed at the sidecar's admin port, path
 * `/app-health/<container>/<readyz|livez|startupz>`, and the original goes to the sidecar as
 * `LANECAR_APP_PROBES` (JSON), which asks the app on loopback and answers with its status
 * (packages/proxy/src/kubernetes/app-probes.ts). Timing fields (period, thresholds, timeout)
 * stay as they were; other probe kinds (exec, tcpSocket, grpc) are left alone.
 */
import type { Json, JsonObject } from "./inject-pod.js";

const KINDS = [
  ["readinessProbe", "readyz"],
  ["livenessProbe", "livez"],
  ["startupProbe", "startupz"],
] as const;

export interface RewrittenProbe {
  port: number;
  path: string;
  headers?: Json[];
  timeoutSeconds: number;
}

function obj(v: Json | undefined): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v : undefined;
}

/** The container port a probe names (a number, or the name of one of the container's ports). */
function probePort(c: JsonObject, port: Json | undefined): number | undefined {
  if (typeof port === "number") return port;
  if (typeof port === "string" && /^\d+$/.test(port)) return Number(port);
  if (typeof port !== "string") return undefined;
  for (const p of Array.isArray(c.ports) ? c.ports : [])
    if (obj(p)?.name === port && typeof obj(p)?.containerPort === "number")
      return obj(p)!.containerPort as number;
  return undefined;
}

/** The app containers with their HTTP probes moved to `adminPort`, and what the sidecar answers. */
export function rewriteAppProbes(
  containers: readonly Json[],
  adminPort: number,
): { containers: Json[]; probes: Record<string, RewrittenProbe> } {
  const probes: Record<string, RewrittenProbe> = {};
  const out = containers.map((item) => {
    const c = obj(item);
    if (!c || typeof c.name !== "string") return item;
    let copy: JsonObject | undefined;
    for (const [field, kind] of KINDS) {
      const probe = obj(c[field]);
      const get = obj(probe?.httpGet);
      if (!probe || !get || (get.scheme ?? "HTTP") !== "HTTP" || get.host !== undefined) continue;
      const port = probePort(c, get.port);
      if (port === undefined) continue;
      const path = `/app-health/${c.name}/${kind}`;
      probes[path] = {
        port,
        path:
          typeof get.path === "string" && get.path.startsWith("/") ? get.path : `/${String(get.path ?? "")}`,
        ...(Array.isArray(get.httpHeaders) ? { headers: get.httpHeaders } : {}),
        timeoutSeconds: typeof probe.timeoutSeconds === "number" ? probe.timeoutSeconds : 1,
      };
      copy ??= { ...c };
      copy[field] = { ...probe, httpGet: { path, port: adminPort, scheme: "HTTP" } };
    }
    return copy ?? item;
  });
  return { containers: out, probes };
}
