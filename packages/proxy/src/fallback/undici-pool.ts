/**
 * The fallback data path's upstream pool: undici's `Pool` (public API) behind the same
 * `dispatch(request, handler)` contract as Lanecar's own client (h1/client.ts `UpstreamPool`):
 * `onConnect(abort)` once, then `onHeaders` → `onData`* → `onComplete`, or `onError`, exactly one
 * terminal call; undici's error codes are mapped to the codec's, so the exchange, retries and
 * outlier detection read the same outcomes on both paths.
 */
import { Readable } from "node:stream";
import { Pool } from "undici";
import {
  ABORTED,
  BODY_TIMEOUT,
  CLOSED,
  CONNECT_TIMEOUT,
  HEADERS_TIMEOUT,
  type PoolOptions,
  PROTOCOL,
  RESET,
  type ResponseHandler,
  UpstreamError,
  type UpstreamRequest,
} from "../h1/client.js";
import type { DownstreamStream } from "../http/downstream.js";
import { tlsConnector } from "./undici-tls.js";

const CODES: Readonly<Record<string, string>> = {
  UND_ERR_CONNECT_TIMEOUT: CONNECT_TIMEOUT,
  UND_ERR_HEADERS_TIMEOUT: HEADERS_TIMEOUT,
  UND_ERR_BODY_TIMEOUT: BODY_TIMEOUT,
  UND_ERR_ABORTED: ABORTED,
  UND_ERR_SOCKET: RESET,
  UND_ERR_CLOSED: CLOSED,
  UND_ERR_DESTROYED: CLOSED,
  UND_ERR_HEADERS_OVERFLOW: PROTOCOL,
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: PROTOCOL,
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: PROTOCOL,
};

/** undici's error as the codec names it (system errors such as ECONNREFUSED pass through). */
function mapError(err: Error & { code?: string }): Error & { code?: string } {
  const code = err.code ?? "";
  const mapped = CODES[code] ?? (code.startsWith("HPE_") ? PROTOCOL : undefined);
  if (!mapped) return err;
  const e = new UpstreamError(mapped, err.message);
  e.cause = err;
  return e;
}

/** The downstream body as a Readable with backpressure both ways. */
function bodyReadable(body: DownstreamStream): Readable {
  const r = new Readable({
    read() {
      body.resumeBody();
    },
  });
  body.readBody({ data: (c) => r.push(c), end: () => r.push(null) });
  return r;
}

/** Adapts undici's legacy dispatch handler calls to the codec's `ResponseHandler`. */
class Attempt {
  private done = false;
  constructor(
    private readonly pool: UndiciPool,
    private readonly h: ResponseHandler,
    private readonly body: DownstreamStream | null,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.h.onConnect(abort);
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true; // 1xx: the final response follows
    const headers = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i++) headers[i] = raw[i]!.toString("latin1");
    return this.h.onHeaders(status, headers, resume, statusText);
  }
  onData(chunk: Buffer): boolean {
    return this.h.onData(chunk);
  }
  onComplete(): void {
    if (this.finish()) this.h.onComplete();
  }
  onError(err: Error & { code?: string }): void {
    if (this.finish()) this.h.onError(mapError(err));
  }
  onUpgrade(): void {
    this.onError(new UpstreamError(PROTOCOL, "upstream switched protocols"));
  }
  private finish(): boolean {
    if (this.done) return false;
    this.done = true;
    this.pool.running--;
    this.body?.detachBody();
    return true;
  }
}

export class UndiciPool {
  private readonly pool: Pool;
  running = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly opts: PoolOptions,
  ) {
    const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    this.pool = new Pool(`http://${authority}`, {
      connections: opts.connections,
      pipelining: 1,
      connectTimeout: opts.connectTimeoutMs,
      keepAliveTimeout: opts.idleTimeoutMs,
      keepAliveMaxTimeout: opts.idleTimeoutMs,
      maxRequestsPerClient: opts.maxRequestsPerConnection || undefined,
      maxHeaderSize: opts.maxHeaderSize,
      strictContentLength: true,
      // ServiceEntry DNS names resolve through the proxy's resolver, as on the codec path; TLS
      // pools connect as the codec's do (undici-tls.ts), never in plaintext.
      ...(opts.tls
        ? { connect: tlsConnector(host, port, opts) as never }
        : opts.lookup
          ? { connect: { lookup: opts.lookup } }
          : {}),
    });
    // A pool-level error (e.g. a connection reset while idle) is reported per request.
    this.pool.on("connectionError", () => {});
  }

  dispatch(req: UpstreamRequest, handler: ResponseHandler): void {
    const body = req.body as DownstreamStream | null;
    const x = new Attempt(this, handler, body);
    this.running++;
    this.pool.dispatch(
      {
        path: req.path,
        method: req.method as "GET",
        headers: req.headers as string[],
        body: body ? bodyReadable(body) : null,
        headersTimeout: req.headersTimeoutMs,
        bodyTimeout: req.bodyTimeoutMs,
      },
      x as unknown as Parameters<Pool["dispatch"]>[1],
    );
  }

  get queued(): number {
    return this.pool.stats.queued;
  }

  get stats(): { connected: number; free: number; pending: number; queued: number; running: number } {
    const s = this.pool.stats;
    return { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running };
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
