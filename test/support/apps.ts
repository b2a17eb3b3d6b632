/**
 * A tiny test application: answers with who it is and, when it has downstream services, calls
 * them through its sidecar (HTTP_PROXY style absolute-form requests) forwarding ONLY
 * `x-request-id` — like an app that knows nothing about lanes.
 */
import { createServer, request, type Server } from "node:http";

export interface AppOptions {
  service: string;
  version: string;
  port: number;
  /** Downstream services to call, in order, e.g. ["b:9080"]. */
  calls?: string[];
  /** The sidecar's outbound listener, `127.0.0.1:port`. */
  proxy?: string;
  /** Answer after this long (for drain tests). */
  delayMs?: number;
}

export interface Hop {
  service: string;
  version: string;
  /** Headers this hop received. */
  headers: Record<string, string | string[] | undefined>;
  downstream: Hop[];
}

export interface TestApp {
  server: Server;
  opts: AppOptions;
  received: number;
  close(): Promise<void>;
}

function callThroughProxy(proxy: string, target: string, requestId: string | undefined): Promise<Hop> {
  const [host, port] = proxy.split(":");
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: target };
    if (requestId) headers["x-request-id"] = requestId;
    const req = request(
      { host, port: Number(port), method: "GET", path: `http://${target}/`, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) {
            resolve({
              service: target,
              version: `error:${res.statusCode}:${res.headers["x-lanecar-flags"] ?? ""}`,
              headers: {},
              downstream: [],
            });
            return;
          }
          try {
            resolve(JSON.parse(body) as Hop);
          } catch (e) {
            reject(e);
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

export async function startApp(opts: AppOptions): Promise<TestApp> {
  const app: TestApp = {
    server: undefined as unknown as Server,
    opts,
    received: 0,
    close: () =>
      new Promise((r) => {
        app.server.closeAllConnections();
        app.server.close(() => r());
      }),
  };
  app.server = createServer(async (req, res) => {
    app.received++;
    if (req.url === "/health") {
      res.end("ok");
      return;
    }
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    const rid = req.headers["x-request-id"] as string | undefined;
    const downstream: Hop[] = [];
    try {
      for (const c of opts.calls ?? []) downstream.push(await callThroughProxy(opts.proxy!, c, rid));
    } catch (err) {
      res.writeHead(500);
      res.end(String(err));
      return;
    }
    const hop: Hop = { service: opts.service, version: opts.version, headers: req.headers, downstream };
    const body = JSON.stringify(hop);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => app.server.listen(opts.port, "127.0.0.1", () => r()));
  return app;
}

/** Flattens a hop tree into `service=version` in call order. */
export function path(h: Hop): string[] {
  return [`${h.service}=${h.version}`, ...h.downstream.flatMap(path)];
}
