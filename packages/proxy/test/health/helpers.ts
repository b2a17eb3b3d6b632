/** Real loopback servers and a tiny forwarder that reports outcomes the way the Exchange does. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type Endpoint, endpointKey, type OutlierDetection, type Probe } from "@lanecar/core";
import { request } from "undici";
import type { HealthState, UpstreamOutcome } from "../../src/health/index.js";

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

/**
 * Sends one GET to `ep` with undici and reports the outcome to `state`, mapping errors as the
 * Exchange does: refused → connect-failure, headers timeout → timeout, anything else → reset.
 */
export async function forward(
  state: HealthState,
  ep: Endpoint,
  od: OutlierDetection | undefined,
  pool?: readonly Endpoint[],
  headersTimeout = 2000,
): Promise<UpstreamOutcome> {
  state.begin(ep);
  let result: UpstreamOutcome;
  try {
    const res = await request(`http://127.0.0.1:${ep.port}/`, { headersTimeout, reset: true });
    await res.body.dump();
    result = res.statusCode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    result =
      code === "ECONNREFUSED" ? "connect-failure" : code === "UND_ERR_HEADERS_TIMEOUT" ? "timeout" : "reset";
  }
  state.end(ep);
  state.report(ep, od, result, pool);
  return result;
}

export async function waitFor(cond: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
