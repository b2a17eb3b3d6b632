/**
 * A stand-in for the sidecar's outbound listener: an HTTP proxy that takes the apps'
 * absolute-form requests (`GET http://reviews:9080/reviews/0`), forwards each to the app the
 * test chose for that service name, and records what every hop sent, so tests can check what
 * the apps propagate (and what they must never send).
 */
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedCall {
  /** Which proxy (caller) saw it, e.g. `productpage`. */
  caller: string;
  /** The request target as received: must be absolute form. */
  target: string;
  /** `reviews` */
  service: string;
  host: string | undefined;
  headers: IncomingHttpHeaders;
}

/** Where a service name goes: an app's port, or a canned answer (e.g. 503 like a sidecar with no healthy upstream). */
export type Upstream = { port: number } | { status: number; body?: string; flag?: string } | { hang: true };

export interface NameProxy {
  url: string;
  calls: RecordedCall[];
  close(): Promise<void>;
}

/** `routes` is shared and may be changed between requests. */
export async function startNameProxy(
  caller: string,
  routes: Map<string, Upstream>,
  calls: RecordedCall[] = [],
): Promise<NameProxy> {
  const server: Server = createServer((req, res) => {
    const target = req.url ?? "";
    let url: URL | undefined;
    try {
      url = /^http:\/\//.test(target) ? new URL(target) : undefined;
    } catch {
      url = undefined;
    }
    calls.push({
      caller,
      target,
      service: url?.hostname ?? "",
      host: req.headers.host,
      headers: { ...req.headers },
    });
    if (!url) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("expected an absolute-form request target");
      return;
    }
    const up = routes.get(url.hostname);
    if (!up) {
      res.writeHead(404, { "content-type": "text/plain", "x-lanecar-flags": "NR" });
      res.end("no route");
      return;
    }
    if ("hang" in up) return; // never answers: the app's timeout must fire
    if ("status" in up) {
      const body = up.body ?? "no healthy upstream";
      res.writeHead(up.status, {
        "content-type": "text/plain",
        "x-lanecar-flags": up.flag ?? "UH",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    const fwd = request(
      {
        host: "127.0.0.1",
        port: up.port,
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers: req.headers,
        agent: false,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    fwd.on("error", () => {
      if (!res.headersSent) res.writeHead(503, { "x-lanecar-flags": "UF" });
      res.end("upstream connect error");
    });
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
