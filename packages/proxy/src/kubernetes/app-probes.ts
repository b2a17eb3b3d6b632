/**
 * Kubelet's HTTP probes of the app, answered through the sidecar's admin port (Istio's probe
 * rewrite): kubelet probes come in plaintext from the node, and under mutual TLS STRICT the
 * inbound listener refuses plaintext, so the injector points each app `httpGet` probe at
 * `GET /app-health/<container>/<readyz|livez|startupz>` on the admin port and hands the
 * original probes to the sidecar (`--app-probes`, JSON). The sidecar then asks the app on
 * loopback (not captured: it runs as the proxy user) and answers with the app's status code, or
 * 503 when the app cannot be reached in time. Only the paths the injector wrote are served, each
 * to its fixed port and path, so the admin port cannot be used to reach anything else.
 */
import { request } from "node:http";

/** One original probe: what kubelet would have asked the app. */
export interface AppProbe {
  port: number;
  path: string;
  headers?: { name: string; value: string }[];
  /** kubelet's `timeoutSeconds` (default 1). */
  timeoutSeconds?: number;
}

/** `/app-health/<container>/<kind>` → the original probe. */
export type AppProbes = Record<string, AppProbe>;

export const APP_HEALTH_PREFIX = "/app-health/";

/** Parses `--app-probes`; throws an Error with one line naming what is wrong. */
export function parseAppProbes(text: string): AppProbes {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error("--app-probes is not JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new Error("--app-probes must be an object of /app-health/... paths");
  const out: AppProbes = {};
  for (const [path, p] of Object.entries(v as Record<string, unknown>)) {
    const probe = p as Partial<AppProbe> | null;
    if (!path.startsWith(APP_HEALTH_PREFIX))
      throw new Error(`--app-probes: "${path}" is not under /app-health/`);
    if (
      !probe ||
      !Number.isInteger(probe.port) ||
      probe.port! < 1 ||
      probe.port! > 65535 ||
      typeof probe.path !== "string" ||
      !probe.path.startsWith("/")
    )
      throw new Error(`--app-probes: "${path}" needs a port (1-65535) and a path starting with /`);
    const headers = (probe.headers ?? []).filter(
      (h) =>
        typeof h?.name === "string" &&
        typeof h.value === "string" &&
        /^[!#-'*+.^-z|~0-9A-Za-z-]+$/.test(h.name),
    );
    out[path] = { port: probe.port!, path: probe.path, headers, timeoutSeconds: probe.timeoutSeconds ?? 1 };
  }
  return out;
}

/** Asks the app as kubelet would have: its status code, or 503 when it cannot be reached in time. */
export function runAppProbe(p: AppProbe): Promise<number> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { "user-agent": "kube-probe/lanecar", accept: "*/*" };
    for (const h of p.headers ?? []) headers[h.name.toLowerCase()] = h.value;
    const req = request(
      { host: "127.0.0.1", port: p.port, path: p.path, method: "GET", headers, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 503);
      },
    );
    req.setTimeout((p.timeoutSeconds ?? 1) * 1000, () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(503));
    req.end();
  });
}
