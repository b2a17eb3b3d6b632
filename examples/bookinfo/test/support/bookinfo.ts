/**
 * Starts Bookinfo apps in this process on free loopback ports, each calling out through its own
 * recording name proxy (the sidecar's place), with `routes` deciding which version answers for
 * each service name. No Lanecar involved: this tests the apps alone.
 */
import { type RunningService, startService } from "../../src/services/server.js";
import type { ServiceName } from "../../src/topology.js";
import { type NameProxy, type RecordedCall, startNameProxy, type Upstream } from "./name-proxy.js";

export interface Fleet {
  /** `reviews-v2` → the running app */
  apps: Map<string, RunningService>;
  routes: Map<string, Upstream>;
  calls: RecordedCall[];
  /** Points a service name at one of the running versions. */
  use(service: ServiceName, version: string): void;
  url(service: ServiceName, version: string): string;
  close(): Promise<void>;
}

export async function startFleet(
  instances: readonly [ServiceName, string][],
  timeoutMs = 3000,
): Promise<Fleet> {
  const routes = new Map<string, Upstream>();
  const calls: RecordedCall[] = [];
  const apps = new Map<string, RunningService>();
  const proxies: NameProxy[] = [];
  for (const [service, version] of instances) {
    const proxy = await startNameProxy(`${service}-${version}`, routes, calls);
    proxies.push(proxy);
    const app = await startService({
      service,
      version,
      port: 0,
      bind: "127.0.0.1",
      proxy: new URL(proxy.url),
      timeoutMs,
    });
    apps.set(`${service}-${version}`, app);
    if (!routes.has(service)) routes.set(service, { port: app.port });
  }
  const get = (service: string, version: string) => {
    const a = apps.get(`${service}-${version}`);
    if (!a) throw new Error(`${service}-${version} is not running`);
    return a;
  };
  return {
    apps,
    routes,
    calls,
    use: (service, version) => routes.set(service, { port: get(service, version).port }),
    url: (service, version) => get(service, version).url,
    close: async () => {
      await Promise.all([...apps.values()].map((a) => a.close()));
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}

/** GET with headers; returns status, headers and body text. */
export async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(url, { headers, redirect: "manual" });
  return { status: r.status, headers: r.headers, text: await r.text() };
}
