/**
 * The admin API (SPEC section 9) on fastify — never on the data path:
 * `GET /ready`, `GET /healthz`, `GET /metrics`, `GET /config_dump`, `GET /clusters?format=json`,
 * `POST /drain`, and on an injected sidecar kubelet's rewritten app probes (`GET /app-health/...`).
 */

import type { ConfigSnapshot } from "@lanecar/core";
import Fastify, { type FastifyInstance } from "fastify";
import { APP_HEALTH_PREFIX, type AppProbes, runAppProbe } from "../kubernetes/app-probes.js";

export interface AdminSource {
  /** `LIVE` when serving; otherwise the state shown with 503 (`PRE_INITIALIZING`, `DRAINING`). */
  state(): "LIVE" | "PRE_INITIALIZING" | "DRAINING";
  metrics(): string;
  configDump(): unknown;
  clusters(): unknown;
  drain(): Promise<void>;
  /** The app's probes kubelet asks here instead (`--app-probes`). */
  appProbes?: AppProbes;
}

export async function startAdmin(host: string, port: number, src: AdminSource): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get("/ready", async (_req, reply) => {
    const s = src.state();
    reply
      .code(s === "LIVE" ? 200 : 503)
      .type("text/plain")
      .send(s);
  });
  app.get("/healthz", async (_req, reply) => {
    reply.type("text/plain").send("ok");
  });
  app.get("/metrics", async (_req, reply) => {
    reply.type("text/plain; version=0.0.4").send(src.metrics());
  });
  app.get("/config_dump", async () => src.configDump());
  app.get("/clusters", async (req, reply) => {
    const format = (req.query as Record<string, string>).format;
    const data = src.clusters();
    if (format === "json") return data;
    reply.type("text/plain").send(clustersText(data as ClusterDump[]));
  });
  const probes = src.appProbes ?? {};
  app.get(`${APP_HEALTH_PREFIX}*`, async (req, reply) => {
    const probe = probes[req.url.split("?")[0]!];
    if (!probe) return reply.code(404).type("text/plain").send("no such app probe");
    reply.code(await runAppProbe(probe)).send();
  });
  app.post("/drain", async (_req, reply) => {
    void src.drain();
    reply.type("text/plain").send("draining");
  });
  await app.listen({ host, port });
  return app;
}

export interface ClusterDump {
  name: string;
  host: string;
  port: number;
  subset: string | null;
  endpoints: {
    address: string;
    port: number;
    labels: Record<string, string>;
    /** The platform's readiness (Kubernetes EndpointSlice `ready`); false is never picked. */
    ready: boolean;
    health: unknown;
  }[];
}

function clustersText(cs: ClusterDump[]): string {
  const lines: string[] = [];
  for (const c of cs) {
    for (const e of c.endpoints)
      lines.push(`${c.name}::${e.address}:${e.port}::health::${JSON.stringify(e.health)}`);
    if (c.endpoints.length === 0) lines.push(`${c.name}::(no endpoints)`);
  }
  return `${lines.join("\n")}\n`;
}

/** Every (host, port, subset) cluster of a snapshot: all endpoints, each DR subset, each lane. */
export function dumpClusters(snap: ConfigSnapshot, health: (key: string) => unknown): ClusterDump[] {
  const out: ClusterDump[] = [];
  for (const svc of snap.registry.allServices()) {
    const dr = snap.registry.destinationRule(svc.host);
    const subsets: (string | undefined)[] = [undefined, ...(dr?.spec.subsets.map((s) => s.name) ?? [])];
    for (const p of svc.ports) {
      for (const subset of subsets) {
        const c = snap.registry.cluster(svc.host, p.number, subset);
        if (!c) continue;
        out.push({
          name: c.name,
          host: svc.host,
          port: p.number,
          subset: subset ?? null,
          endpoints: c.endpoints.map((e) => ({
            address: e.address,
            port: e.port,
            labels: { ...e.labels },
            ready: e.ready !== false,
            health: health(e.key),
          })),
        });
      }
    }
  }
  return out;
}
