/**
 * The real forwarding path in-process, for tests of the exchange and of health: a ProxyProcess
 * (config source, HealthMonitor, upstream pools) serving one outbound RoutedListener, with its
 * config written to a temp dir, plus loopback upstreams that record what they received.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterEach } from "vitest";
import type { HealthState } from "../../src/health/index.js";
import { RoutedListener } from "../../src/outbound/routed-listener.js";
import { ProxyProcess } from "../../src/process/proxy-process.js";

export interface Upstream {
  port: number;
  /** Requests received so far, with the body bytes each delivered before it ended or broke. */
  requests: {
    method: string;
    url: string;
    headers: IncomingMessage["headers"];
    body: string;
    complete: boolean;
  }[];
  /** Connections accepted (a probe or a request each). */
  connections: number;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** A node:http upstream; every request's body is recorded whatever the handler does. */
export async function upstream(handler: UpstreamHandler): Promise<Upstream> {
  const requests: Upstream["requests"] = [];
  const server: Server = createServer((req, res) => {
    const rec = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: "",
      complete: false,
    };
    requests.push(rec);
    req.on("data", (c: Buffer) => {
      rec.body += c.toString("latin1");
    });
    req.on("end", () => {
      rec.complete = true;
    });
    req.on("error", () => {});
    handler(req, res);
  });
  const u: Upstream = {
    port: 0,
    requests,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on("connection", () => u.connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  u.port = (server.address() as AddressInfo).port;
  return u;
}

/** A port nothing listens on (bound, then released): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const u = await upstream(() => {});
  await u.close();
  return u.port;
}

/** A ServiceEntry `host` (port 9080) with loopback endpoints, labels per endpoint. */
export function serviceEntry(host: string, eps: { port: number; labels?: Record<string, string> }[]): string {
  const lines = eps.map((e) => {
    const labels = Object.entries(e.labels ?? { app: host })
      .map(([k, v]) => `${k}: ${v}`)
      .join(", ");
    return `  - {address: 127.0.0.1, ports: {http: ${e.port}}, labels: {${labels}}}`;
  });
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
${lines.join("\n")}`;
}

/** A DestinationRule for `host` with the given trafficPolicy (flow YAML). */
export function destinationRule(host: string, trafficPolicy: string): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}}
spec:
  host: ${host}
  trafficPolicy: ${trafficPolicy}`;
}

/** A VirtualService for `host` whose one route has `extra` (indented route fields). */
export function virtualService(host: string, extra: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  http:
  - route: [{destination: {host: ${host}}}]
${extra}`;
}

export interface Sidecar {
  /** The outbound listener's port. */
  port: number;
  process: ProxyProcess;
  /** The process's health model (what the listener routes on and reports to). */
  health: HealthState;
  stop(): Promise<void>;
}

const silent = { info: () => {}, error: () => {} };

/** Starts a ProxyProcess with one outbound RoutedListener on `docs`. */
export async function sidecar(docs: string[]): Promise<Sidecar> {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-exchange-"));
  const file = join(dir, "config.yaml");
  writeFileSync(file, `${docs.join("\n---\n")}\n`);
  const process = await ProxyProcess.start(
    {
      config: [file],
      identity: {
        service: "client",
        namespace: "default",
        podLabels: { app: "client" },
        workload: "client",
        cluster: "",
      },
      admin: undefined,
      pollMs: 0,
      drainTimeoutMs: 200,
      logger: silent,
    },
    [
      {
        name: "outbound",
        address: "127.0.0.1:0",
        handler: (rt) => new RoutedListener("outbound", rt, "mesh").handle,
      },
    ],
  );
  return {
    port: process.addresses.get("outbound")!.port,
    process,
    health: process.rt.health as HealthState,
    stop: async () => {
      await process.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A raw client connection: write bytes when the test says so, read everything that comes back. */
export interface RawClient {
  socket: Socket;
  /** Everything received so far (latin1). */
  data(): string;
  /** Resolves when the connection is closed by either side. */
  closed: Promise<void>;
  /** Resolves once the received bytes satisfy `pred`, or rejects after `ms`. */
  until(pred: (data: string) => boolean, ms?: number): Promise<string>;
}

export async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let data = "";
  const waiters: (() => void)[] = [];
  socket.on("data", (c: Buffer) => {
    data += c.toString("latin1");
    for (const w of waiters.splice(0)) w();
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  void closed.then(() => {
    for (const w of waiters.splice(0)) w();
  });
  let isClosed = false;
  void closed.then(() => {
    isClosed = true;
  });
  return {
    socket,
    data: () => data,
    closed,
    until: (pred, ms = 10_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; received: ${JSON.stringify(data)}`)), ms);
        const check = () => {
          if (pred(data)) {
            clearTimeout(timer);
            resolve(data);
          } else if (isClosed) {
            clearTimeout(timer);
            reject(new Error(`connection closed; received: ${JSON.stringify(data)}`));
          } else waiters.push(check);
        };
        check();
      }),
  };
}

/** Waits until `cond()` holds, polling; throws after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The status of the response at the start of `data`, or 0. */
export function responseStatus(data: string): number {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(data);
  return m ? Number(m[1]) : 0;
}

/** The body of the Content-Length response at the start of `data` once it is complete, else undefined. */
export function completeBody(data: string): string | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const m = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, end + 2));
  if (!m) return undefined;
  const body = data.slice(end + 4);
  return body.length >= Number(m[1]) ? body.slice(0, Number(m[1])) : undefined;
}

export interface CallResult {
  status: number;
  flags: string;
  text: string;
}

/** One request through the sidecar's outbound listener to `host` (port 9080). */
export async function call(port: number, host: string, method = "GET", body?: string): Promise<CallResult> {
  const r = await request(`http://127.0.0.1:${port}/`, {
    method: method as "GET",
    headers: { host: `${host}:9080` },
    body,
    reset: true,
  });
  const text = await r.body.text();
  return { status: r.statusCode, flags: String(r.headers["x-lanecar-flags"] ?? ""), text };
}

/**
 * Upstreams and sidecars started through `up`/`start` are stopped after each test of the file
 * that calls this (at its top level).
 */
export function stoppedAfterEach(): {
  up(handler: UpstreamHandler): Promise<Upstream>;
  start(docs: string[]): Promise<Sidecar>;
} {
  const upstreams: Upstream[] = [];
  const sidecars: Sidecar[] = [];
  afterEach(async () => {
    await Promise.all(sidecars.splice(0).map((s) => s.stop()));
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
  });
  return {
    async up(handler) {
      const u = await upstream(handler);
      upstreams.push(u);
      return u;
    },
    async start(docs) {
      const s = await sidecar(docs);
      sidecars.push(s);
      return s;
    },
  };
}
