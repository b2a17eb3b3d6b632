/**
 * Lanecar's upstream HTTP/1.1 client: a pool of kept-alive connections per endpoint, one
 * request at a time on each (no pipelining), Node's strict llhttp parser on the responses.
 *
 * A request is handed to a pool with a handler object (the shape of undici's legacy dispatch
 * handler, so the exchange logic reads the same): `onConnect(abort)` once, then either
 * `onHeaders` → `onData`* → `onComplete`, or `onError` — exactly one terminal call.
 *
 * - Connections: idle ones are reused most-recent-first; a new one is opened while fewer than
 *   `connections` exist, else the request waits in a FIFO queue. An idle connection closes after
 *   `idleTimeoutMs`, or a second before the upstream's own `Keep-Alive: timeout=N` hint.
 * - Request bodies stream from the downstream request with backpressure both ways; a body whose
 *   length is unknown goes chunked.
 * - Deadlines: connect (`connectTimeoutMs`), response headers (`headersTimeoutMs` per request),
 *   and the gap between body chunks (`bodyTimeoutMs`); the long ones are checked by a sweep,
 *   short ones (per-try timeouts) by a timer.
 * - A connection is reused only after a complete response to a completely sent request, with
 *   keep-alive on both sides; anything else closes it. Response trailers are dropped, never
 *   carried into the next response.
 * - A request lost on a reused connection before any response byte (the upstream closed it as
 *   it was being reused) is sent once more on a new connection when it is idempotent and none of
 *   its body was read (as HTTP clients do), transparently to the handler.
 * - Idle connections close below Lanecar's own inbound keep-alive timeout (`MAX_IDLE_MS`), so
 *   sidecar-to-sidecar pools never reuse a connection the peer is closing.
 */
import { Attempt, Connection } from "./upstream-connection.js";
import {
  CLOSED,
  MAX_IDLE_MS,
  type PoolOptions,
  type ResponseHandler,
  SWEEP_MS,
  UpstreamError,
  type UpstreamRequest,
} from "./upstream-contract.js";

export {
  ABORTED,
  BODY_TIMEOUT,
  CLOSED,
  CONNECT_TIMEOUT,
  HEADERS_TIMEOUT,
  MAX_IDLE_MS,
  type PoolOptions,
  PROTOCOL,
  RESET,
  type ResponseHandler,
  SWEEP_MS,
  TLS_HANDSHAKE,
  UpstreamError,
  type UpstreamRequest,
  type UpstreamTls,
} from "./upstream-contract.js";

const pools = new Set<UpstreamPool>();
let sweeper: NodeJS.Timeout | undefined;

function sweepAll(): void {
  const now = Date.now();
  for (const p of pools) p.sweep(now);
}

/** Kept-alive connections to one endpoint. */
export class UpstreamPool {
  private readonly conns = new Set<Connection>();
  private readonly idle: Connection[] = [];
  private queue: Attempt[] = [];
  private queueHead = 0;
  running = 0;
  closed = false;
  private closedWaiters: (() => void)[] = [];

  constructor(
    readonly host: string,
    readonly port: number,
    readonly opts: PoolOptions,
  ) {
    pools.add(this);
    if (!sweeper) {
      sweeper = setInterval(sweepAll, SWEEP_MS);
      sweeper.unref();
    }
  }

  dispatch(req: UpstreamRequest, handler: ResponseHandler): void {
    const x = new Attempt(this, req, handler);
    handler.onConnect(x.abort);
    if (x.done) return;
    if (this.closed) {
      x.finish();
      handler.onError(new UpstreamError(CLOSED, "upstream pool closed"));
      return;
    }
    let c = this.idle.pop();
    // One the upstream has ended (or that is closing) is never handed a request.
    while (c !== undefined && (c.ended || c.closed || c.socket.destroyed)) c = this.idle.pop();
    c ??= this.conns.size < this.opts.connections ? this.open() : undefined;
    if (c) c.assign(x);
    else this.queue.push(x);
  }

  /** The effective idle timeout of this pool's connections (see MAX_IDLE_MS). */
  get idleMs(): number {
    return Math.min(this.opts.idleTimeoutMs, MAX_IDLE_MS);
  }

  /** `x` was lost on `dead` (closing): sends it on a new connection, or first in the queue. */
  retry(x: Attempt, dead: Connection): void {
    this.removed(dead);
    if (this.closed) {
      x.finish();
      x.handler.onError(new UpstreamError(CLOSED, "upstream pool closed"));
      return;
    }
    if (this.conns.size < this.opts.connections) this.open().assign(x);
    else if (this.queueHead > 0) this.queue[--this.queueHead] = x;
    else this.queue.unshift(x);
  }

  private open(): Connection {
    const c = new Connection(this);
    this.conns.add(c);
    return c;
  }

  /** A connection is free: next queued request, or idle. */
  release(c: Connection): void {
    if (c.ended || c.closed) return;
    const x = this.dequeue();
    if (x) c.assign(x);
    else this.idle.push(c);
  }

  private dequeue(): Attempt | undefined {
    while (this.queueHead < this.queue.length) {
      const x = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as Attempt;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      if (!x.done) return x;
    }
    return undefined;
  }

  unqueue(x: Attempt): void {
    const i = this.queue.indexOf(x, this.queueHead);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** A connection closed. */
  removed(c: Connection): void {
    this.conns.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (!this.closed && this.queued > 0 && this.conns.size < this.opts.connections) {
      const x = this.dequeue();
      if (x) this.open().assign(x);
    }
    if (this.closed && this.conns.size === 0) {
      pools.delete(this);
      for (const w of this.closedWaiters.splice(0)) w();
    }
  }

  sweep(now: number): void {
    for (const c of this.conns) c.check(now);
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  get stats(): { connected: number; free: number; pending: number; queued: number; running: number } {
    return {
      connected: this.conns.size,
      free: this.idle.length,
      pending: this.queued,
      queued: this.queued,
      running: this.running,
    };
  }

  /** No new requests; idle connections close now, busy ones after their response. */
  close(): Promise<void> {
    this.closed = true;
    for (let x = this.dequeue(); x; x = this.dequeue()) {
      x.finish();
      x.handler.onError(new UpstreamError(CLOSED, "upstream pool closed"));
    }
    for (const c of this.idle.splice(0)) c.socket.destroy();
    if (this.conns.size === 0) {
      pools.delete(this);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** Closes everything now; requests in flight fail. */
  destroy(): Promise<void> {
    const p = this.close();
    for (const c of this.conns) c.socket.destroy();
    return p;
  }
}
