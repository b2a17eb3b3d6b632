/**
 * One proxied request: its state and the upstream pool's response handler for its attempts. It
 * streams the response back with backpressure, retries what is safe to retry on another target,
 * turns failures into local replies with response flags, and aborts the upstream when the client
 * goes away or the route timeout fires.
 *
 * Rules:
 * - Whether a retry is allowed is decided at the moment of the retry, on what was actually sent:
 *   never once a byte of the request body went to an upstream (the body is not buffered). A retry
 *   decided on response headers closes that attempt at once, so no body byte follows.
 * - One attempt at a time; an attempt the proxy ends itself (client gone, route timeout, a
 *   retry) is aborted and reported to nobody: health only hears what upstreams did.
 * - Once the exchange has answered (a local reply or the end of the response) nothing more is
 *   sent upstream and no further attempt starts.
 * - A response is never cut short silently: a failure after headers destroys the client
 *   connection so it sees an abort.
 */
import type { Cluster, Endpoint, HeaderOps } from "@lanecar/core";
import {
  ABORTED,
  CLOSED,
  CONNECT_TIMEOUT,
  HEADERS_TIMEOUT,
  type ResponseHandler,
  TLS_HANDSHAKE,
} from "../h1/client.js";
import type { DownstreamStream } from "../http/downstream.js";
import { LOCAL_REPLIES, type ResponseFlag, sendLocalReply } from "../http/local-reply.js";
import { copyResponseHeaders, removeHeader } from "../http/raw-headers.js";
import type { UpstreamPools } from "./pools.js";
import { isIdempotent, NO_RETRY, type RetryPolicy, retriableStatus } from "./retry-policy.js";
import type { UpstreamHealth, UpstreamResult } from "./upstream-health.js";

/** Who owns an exchange: picks targets and records outcomes. */
export interface ExchangeOwner {
  readonly health: UpstreamHealth;
  readonly pools: UpstreamPools;
  /**
   * Chooses the next target after a failed attempt (availability already updated); false = none.
   * With `untried`, only an endpoint this exchange has not tried yet will do.
   */
  retarget(x: Exchange, untried?: boolean): boolean;
  /** Called exactly once when the exchange ends, whatever the outcome. */
  finish(x: Exchange, status: number, flags: ResponseFlag): void;
}

type Abort = (err?: Error) => void;

const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  CONNECT_TIMEOUT,
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
  TLS_HANDSHAKE,
]);

/** Why the proxy itself ended an attempt (what the aborted attempt's onError carries). */
const ABANDONED = Object.assign(new Error("attempt abandoned by the proxy"), { code: ABORTED });

/** Timer callbacks take the exchange as argument: no closure per request. */
function redispatch(x: Exchange): void {
  x.dispatch();
}
function routeTimedOut(x: Exchange): void {
  x.fail(504, "UT", LOCAL_REPLIES.UT.body);
}

export class Exchange implements ResponseHandler {
  /** The target of the next attempt (set by the owner, then by `retarget`). */
  ep!: Endpoint;
  cluster: Cluster | undefined;
  /** `lane` label value, destination version etc. are kept by the owner in `tag`. */
  tag: unknown;

  readonly startedAt = performance.now();
  status = 0;
  flags: ResponseFlag = "";
  attempts = 0;
  /** Why the last connection attempt failed at the transport (TLS), for the access log. */
  transportFailure: string | undefined;
  /** Upstream endpoints tried, in order (for logs and the retry host predicate). */
  readonly tried: Endpoint[] = [];

  /** The attempt in flight (undefined between attempts and once it ended): what health hears about. */
  private upstream: Endpoint | undefined;
  private upstreamCluster: Cluster | undefined;
  private abortUpstream: Abort | undefined;
  private resumeUpstream: (() => void) | undefined;
  private ended = false;
  private clientGone = false;
  private routeTimer: NodeJS.Timeout | undefined;
  /** Made on first backpressure only: most responses never wait for `drain`. */
  private onDrain: (() => void) | undefined;

  constructor(
    readonly owner: ExchangeOwner,
    /** The downstream request, and its response. */
    readonly stream: DownstreamStream,
    readonly method: string,
    public path: string,
    readonly headers: string[],
    public retry: RetryPolicy = NO_RETRY,
    public responseOps: HeaderOps | undefined = undefined,
  ) {
    stream.onAbort = this.responseClosed;
  }

  /** The client went away (or its request broke) before the response ended. */
  private readonly responseClosed = (): void => {
    if (this.ended) return;
    // A downstream disconnect is nobody's fault upstream: the attempt is abandoned, not reported.
    this.clientGone = true;
    this.end(499, "DC");
  };

  /** Starts the overall route timeout (Istio `timeout`); 0/undefined = none. */
  setRouteTimeout(ms: number | undefined): void {
    if (!ms) return;
    this.routeTimer = setTimeout(routeTimedOut, ms, this);
  }

  /** Sends the next attempt to `this.ep` (nothing once the exchange has ended). */
  dispatch(): void {
    if (this.ended) return;
    const entry = this.owner.pools.forCluster(this.ep, this.cluster);
    if (this.owner.pools.overflowing(entry)) {
      this.fail(503, "UO", LOCAL_REPLIES.UO.body);
      return;
    }
    this.attempts++;
    this.tried.push(this.ep);
    this.abortUpstream = undefined;
    this.upstream = this.ep;
    this.upstreamCluster = this.cluster;
    this.owner.health.begin(this.ep);
    entry.pool.dispatch(
      {
        path: this.path,
        method: this.method,
        headers: this.headers,
        body: this.stream.hasBody ? this.stream : null,
        headersTimeoutMs: this.retry.perTryTimeoutMs ?? 300_000,
        bodyTimeoutMs: 300_000,
      },
      this,
    );
  }

  // ---- response handler (calls for an attempt that is no longer in flight are ignored) ----

  onConnect(abort: Abort): void {
    this.abortUpstream = abort;
    if (this.stream.aborted && !this.ended) {
      this.clientGone = true;
      this.end(499, "DC");
    }
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    if (this.upstream === undefined) return false;
    this.status = statusCode;
    // Envoy's outlier detection hears the status at the response headers.
    this.report(statusCode);
    if (retriableStatus(this.retry, statusCode) && this.canRetry() && this.owner.retarget(this)) {
      // Decided now, on what was sent so far (no body byte): close this attempt before another
      // body byte can go to it, then retry on the new target.
      this.abandon();
      this.retryNext();
      return false;
    }
    this.resumeUpstream = resume;
    const headers = copyResponseHeaders(rawHeaders);
    const ops = this.responseOps;
    if (ops) applyOps(headers, ops);
    this.stream.writeHead(statusCode, statusText || undefined, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.upstream === undefined) return true;
    const ok = this.stream.write(chunk);
    if (!ok) this.stream.onDrain((this.onDrain ??= () => this.resumeUpstream?.()));
    return ok;
  }

  onComplete(): void {
    if (this.upstream === undefined) return;
    this.endAttempt();
    this.stream.end();
    this.end(this.status, this.flags);
  }

  onError(err: Error): void {
    if (this.upstream === undefined) return;
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (code === CLOSED || code === ABORTED) {
      // The proxy closed the pool (config reload) before the request was sent: not the
      // endpoint's fault, and nothing of the request left.
      this.endAttempt();
      if (!this.stream.headersSent && this.canRetry() && this.owner.retarget(this)) this.retryNext();
      else this.fail(503, "UF", LOCAL_REPLIES.UF.body);
      return;
    }
    if (CONNECT_ERRORS.has(code)) {
      this.report("connect-failure");
      this.owner.pools.connectFailed(code === TLS_HANDSHAKE);
      if (code === TLS_HANDSHAKE) this.transportFailure = err.message;
      this.endAttempt();
      // Nothing reached the upstream: safe to replay if no byte of the body was sent before.
      if (
        !this.stream.headersSent &&
        this.retry.connectFailure &&
        this.canRetry() &&
        this.owner.retarget(this)
      ) {
        this.retryNext();
        return;
      }
      // Retries spent (say on 503s from an instance that was going away) or off: a refused
      // connection still sent nothing, and this endpoint is now known down, so an idempotent
      // request goes on to a target it has not tried (the fallback) instead of failing (SPEC §5
      // noavailabled). Bounded: each endpoint is tried at most once this way.
      if (
        !this.stream.headersSent &&
        isIdempotent(this.method) &&
        this.replayable() &&
        this.owner.retarget(this, true)
      ) {
        this.retryNext();
        return;
      }
      // As Envoy: a TLS failure names its reason after the connection-failure text.
      const body =
        code === TLS_HANDSHAKE
          ? `${LOCAL_REPLIES.UF.body}, transport failure reason: ${err.message}`
          : LOCAL_REPLIES.UF.body;
      this.fail(503, "UF", body);
      return;
    }
    if (code === HEADERS_TIMEOUT) {
      this.report("timeout");
      this.endAttempt();
      this.fail(504, "UT", LOCAL_REPLIES.UT.body);
      return;
    }
    // Reset or closed by the upstream, an invalid response, or a body that stalled.
    this.report("reset");
    this.endAttempt();
    if (
      !this.stream.headersSent &&
      this.retry.reset &&
      isIdempotent(this.method) &&
      this.canRetry() &&
      this.owner.retarget(this)
    ) {
      this.retryNext();
      return;
    }
    this.fail(503, "UC", LOCAL_REPLIES.UC.body);
  }

  // ---- helpers ----------------------------------------------------------------------

  /** Tells the health model how the attempt in flight went (its cluster sizes maxEjectionPercent). */
  private report(result: UpstreamResult): void {
    const c = this.upstreamCluster;
    this.owner.health.report(this.upstream!, c?.policy.outlierDetection, result, c?.endpoints);
  }

  /** The attempt in flight is over (its terminal call came, or the proxy abandons it). */
  private endAttempt(): void {
    const ep = this.upstream;
    if (ep === undefined) return;
    this.upstream = undefined;
    this.abortUpstream = undefined;
    this.owner.health.end(ep);
  }

  /** Ends the attempt in flight, if any, and aborts it upstream; its onError is then ignored. */
  private abandon(): void {
    const abort = this.abortUpstream;
    if (this.upstream === undefined) return;
    this.endAttempt();
    abort?.(ABANDONED);
  }

  /**
   * The next attempt starts once the failed one's connection is gone from its pool: a socket
   * closes in the event loop's close phase, after immediates, and a timer runs in the next turn.
   * Until then the pool would still count the dead connection (and queue or overflow the retry).
   */
  private retryNext(): void {
    setTimeout(redispatch, 0, this);
  }

  private canRetry(): boolean {
    return this.attempts <= this.retry.attempts && this.replayable();
  }

  /** The request can be sent again: no byte of its body was sent, and the client is still there. */
  private replayable(): boolean {
    return !this.stream.bodyTouched && !this.clientGone;
  }

  /** Ends with a local reply, or aborts the client connection when headers already went out. */
  fail(status: number, flag: ResponseFlag, body: string): void {
    if (this.ended) return;
    if (this.stream.headersSent) {
      // Never let a cut response look complete.
      this.stream.destroy();
      this.end(status, flag);
      return;
    }
    sendLocalReply(this.stream, status, flag, body);
    this.end(status, flag);
  }

  /** The exchange is over: an attempt still in flight is abandoned, no further attempt starts. */
  private end(status: number, flags: ResponseFlag): void {
    if (this.ended) return;
    this.ended = true;
    if (this.routeTimer) clearTimeout(this.routeTimer);
    this.abandon();
    this.status = status;
    this.flags = flags;
    this.owner.finish(this, status, flags);
  }

  get durationMs(): number {
    return performance.now() - this.startedAt;
  }
}

/** Applies header operations to a flat header array in place (remove, set, add). */
export function applyOps(headers: string[], ops: HeaderOps): void {
  if (ops.remove.length === 0 && ops.set.length === 0 && ops.add.length === 0) return;
  for (const name of ops.remove) removeHeader(headers, name);
  for (const [name, value] of ops.set) {
    removeHeader(headers, name);
    headers.push(name, value);
  }
  for (const [name, value] of ops.add) headers.push(name, value);
}
