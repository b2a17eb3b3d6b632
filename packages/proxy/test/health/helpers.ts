/** Real loopback servers, and `forward`: one request through the real Exchange and upstream pool. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Cluster, type Endpoint, endpointKey, type OutlierDetection, type Probe } from "@lanecar/core";
import { request } from "undici";
import type { HealthState, UpstreamOutcome } from "../../src/health/index.js";
import type { ListenerServer } from "../../src/http/downstream.js";
import { type ResponseFlag, sendLocalReply } from "../../src/http/local-reply.js";
import { createProxyServer } from "../../src/http/server.js";
import { Exchange, type ExchangeOwner } from "../../src/upstream/exchange.js";
import { UpstreamPools } from "../../src/upstream/pools.js";
import { NO_RETRY, type RetryPolicy } from "../../src/upstream/retry-policy.js";

export interface TestServer {
  port: number;
  /** Requests received (method + url + headers). */
  hits: IncomingMessage[];
  close(): Promise<void>;
}

export async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<TestServer> {
  const hits: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A server answering every request with the current `status.code`. */
export async function statusServer(initial = 200): Promise<TestServer & { status: { code: number } }> {
  const status = { code: initial };
  const s = await startServer((_req, res) => {
    res.writeHead(status.code, { "content-type": "text/plain" });
    res.end(String(status.code));
  });
  return Object.assign(s, { status });
}

/** A port nothing listens on (bound, then released): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const s = await startServer(() => {});
  await s.close();
  return s.port;
}

export function probe(p: Partial<Probe> = {}): Probe {
  return {
    path: "/healthz",
    port: 0,
    scheme: "HTTP",
    headers: [],
    initialDelayMs: 0,
    periodMs: 50,
    timeoutMs: 500,
    failureThreshold: 1,
    successThreshold: 1,
    ...p,
  };
}

export function endpoint(port: number, pr?: Probe, address = "127.0.0.1"): Endpoint {
  return Object.freeze({
    key: endpointKey(address, port),
    address,
    port,
    labels: {},
    weight: 1,
    probe: pr,
    origin: "ServiceEntry/default/test",
  });
}

export function outlier(o: Partial<OutlierDetection> = {}): OutlierDetection {
  return {
    consecutive5xxErrors: 3,
    consecutiveGatewayErrors: 0,
    intervalMs: 10_000,
    baseEjectionTimeMs: 150,
    maxEjectionPercent: 100,
    minHealthPercent: 0,
    ...o,
  };
}

/** One forwarded request's owner: the HealthState under test and the attempt's target. */
class ForwardOwner implements ExchangeOwner {
  constructor(
    readonly health: HealthState,
    readonly pools: UpstreamPools,
    readonly ep: Endpoint,
    readonly cluster: Cluster,
    readonly retry: RetryPolicy,
    readonly done: (o: UpstreamOutcome) => void,
  ) {}

  retarget(): boolean {
    return false;
  }

  finish(_x: Exchange, status: number, flags: ResponseFlag): void {
    this.done(
      flags === "UF" ? "connect-failure" : flags === "UT" ? "timeout" : flags === "UC" ? "reset" : status,
    );
  }
}

/**
 * The real forwarding path without routing: a listener whose requests each become an Exchange
 * on the shared UpstreamPools, aimed at the endpoint and cluster policy `forward` registered.
 */
class Forwarder {
  readonly pools = new UpstreamPools();
  private readonly pending = new Map<string, ForwardOwner>();
  private readonly server: ListenerServer;
  private readonly port: Promise<number>;
  private next = 0;

  constructor() {
    this.server = createProxyServer((req) => {
      const owner = this.pending.get(req.url);
      if (!owner) {
        sendLocalReply(req, 404, "NR", "unknown forward id");
        return;
      }
      this.pending.delete(req.url);
      const x = new Exchange(owner, req, "GET", "/", ["host", "upstream"], owner.retry);
      x.cluster = owner.cluster;
      x.ep = owner.ep;
      x.dispatch();
    });
    this.port = this.server.listen("127.0.0.1", 0).then((a) => a.port);
  }

  async url(owner: ForwardOwner): Promise<string> {
    const id = `/forward/${this.next++}`;
    this.pending.set(id, owner);
    return `http://127.0.0.1:${await this.port}${id}`;
  }

  async close(): Promise<void> {
    await this.port;
    await this.server.drain(100);
    await this.pools.close();
  }
}

let forwarder: Forwarder | undefined;

/**
 * Sends one GET to `ep` through the real Exchange and upstream pool, which report the outcome to
 * `state` under `od` and `pool` (the cluster's endpoints) exactly as the listeners do; returns
 * that outcome (a status, or connect-failure / timeout / reset).
 */
export async function forward(
  state: HealthState,
  ep: Endpoint,
  od: OutlierDetection | undefined,
  pool?: readonly Endpoint[],
  headersTimeout = 2000,
): Promise<UpstreamOutcome> {
  forwarder ??= new Forwarder();
  let done!: (o: UpstreamOutcome) => void;
  const outcome = new Promise<UpstreamOutcome>((r) => {
    done = r;
  });
  // A real cluster of a plaintext test service: the exchange reads its policy, endpoints and TLS plan.
  const port = { number: ep.port, name: "http", protocol: "HTTP" };
  const service = {
    host: "test.default.svc.cluster.local",
    namespace: "default",
    ports: [port],
    location: "MESH_INTERNAL",
    origin: "ServiceEntry/default/test",
  } as const;
  const cluster = new Cluster(service, port, undefined, pool ?? [ep], { outlierDetection: od });
  const retry: RetryPolicy = { ...NO_RETRY, perTryTimeoutMs: headersTimeout };
  const f = forwarder;
  const url = await f.url(new ForwardOwner(state, f.pools, ep, cluster, retry, done));
  const res = await request(url);
  await res.body.dump();
  return outcome;
}

/** Closes the forwarding server and its pools (afterAll of a file that used `forward`). */
export async function closeForwarder(): Promise<void> {
  await forwarder?.close();
  forwarder = undefined;
}

export async function waitFor(cond: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
