/**
 * One proxied request: its state and the upstream pool's response handler for it. It streams
 * the response back with backpressure, retries what is safe to retry on another target, turns failures into
 * local replies with response flags, and aborts the upstream when the client goes away.
 *
 * Rules: nothing is replayed once a byte of the request body was read; a response is never cut
 * short silently — a failure after headers destroys the client connection so it sees an abort.
 */
import type { Cluster, Endpoint, HeaderOps } from "@lanecar/core";
import { CONNECT_TIMEOUT, HEADERS_TIMEOUT, type ResponseHandler } from "../h1/client.js";
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
]);

export class Exchange implements ResponseHandler {
  // Per-attempt target
  ep!: Endpoint;
  cluster: Cluster | undefined;
  /** `lane` label value, destination version etc. are kept by the owner in `tag`. */
  tag: unknown;

  readonly startedAt = performance.now();
  status = 0;
  flags: ResponseFlag = "";
  attempts = 0;
  /** Upstream endpoints tried, in order (for logs and the retry host predicate). */
  readonly tried: Endpoint[] = [];

  private abortUpstream: Abort | undefined;
  private resumeUpstream: (() => void) | undefined;
  private discarding = false;
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
    if (!this.ended) {
      // Downstream disconnect: record it first, so the abort's onError finds the exchange ended.
      this.clientGone = true;
      this.end(499, "DC");
      this.abortUpstream?.(new Error("client closed"));
    }
  };

  /** Starts the overall route timeout (Istio `timeout`); 0/undefined = none. */
  setRouteTimeout(ms: number | undefined): void {
    if (!ms) return;
    this.routeTimer = setTimeout(() => {
      this.abortUpstream?.(new Error("route timeout"));
      this.fail(504, "UT", LOCAL_REPLIES.UT.body);
    }, ms);
  }

  /** Sends the current attempt to `this.ep`. */
  dispatch(): void {
    if (this.ended) return;
    const entry = this.owner.pools.get(this.ep, this.cluster?.policy.connectionPool);
    if (this.owner.pools.overflowing(entry)) {
      this.fail(503, "UO", LOCAL_REPLIES.UO.body);
      return;
    }
    this.attempts++;
    this.tried.push(this.ep);
    this.discarding = false;
    this.abortUpstream = undefined;
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

  // ---- response handler -------------------------------------------------------------

  onConnect(abort: Abort): void {
    this.abortUpstream = abort;
    if (this.clientGone || this.ended || this.stream.aborted) {
      this.clientGone = true;
      this.end(499, "DC");
      abort(new Error("client closed"));
    }
  }

  onHeaders(statusCode: number, rawHeaders: string[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true;
    if (this.ended) return false;
    if (this.canRetry() && retriableStatus(this.retry, statusCode)) {
      this.discarding = true;
      this.status = statusCode;
      return true;
    }
    this.status = statusCode;
    this.resumeUpstream = resume;
    const headers = copyResponseHeaders(rawHeaders);
    const ops = this.responseOps;
    if (ops) applyOps(headers, ops);
    this.stream.writeHead(statusCode, statusText || undefined, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding || this.ended) return true;
    const ok = this.stream.write(chunk);
    if (!ok) this.stream.onDrain((this.onDrain ??= () => this.resumeUpstream?.()));
    return ok;
  }

  onComplete(): void {
    this.owner.health.end(this.ep);
    this.report(this.status);
    if (this.ended) return;
    if (this.discarding) {
      if (this.owner.retarget(this)) this.dispatch();
      else this.fail(this.status, "URX", `upstream returned ${this.status} after ${this.attempts} attempts`);
      return;
    }
    this.stream.end();
    this.end(this.status, this.flags);
  }

  onError(err: Error): void {
    this.owner.health.end(this.ep);
    if (this.ended) return;
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (CONNECT_ERRORS.has(code)) {
      this.report("connect-failure");
      // Nothing reached the upstream: safe to replay if the body was not touched.
      if (
        !this.stream.headersSent &&
        this.retry.connectFailure &&
        this.canRetry() &&
        this.owner.retarget(this)
      ) {
        this.dispatch();
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
        this.dispatch();
        return;
      }
      this.fail(503, "UF", LOCAL_REPLIES.UF.body);
      return;
    }
    if (code === HEADERS_TIMEOUT) {
      this.report("timeout");
      this.fail(504, "UT", LOCAL_REPLIES.UT.body);
      return;
    }
    if (this.clientGone) return;
    // Reset or closed by the upstream.
    this.report("reset");
    if (
      !this.stream.headersSent &&
      this.retry.reset &&
      isIdempotent(this.method) &&
      this.canRetry() &&
      this.owner.retarget(this)
    ) {
      this.dispatch();
      return;
    }
    this.fail(503, "UC", LOCAL_REPLIES.UC.body);
  }

  // ---- helpers ----------------------------------------------------------------------

  /** Tells the health model how the attempt went (the cluster sizes maxEjectionPercent). */
  private report(result: UpstreamResult): void {
    const c = this.cluster;
    this.owner.health.report(this.ep, c?.policy.outlierDetection, result, c?.endpoints);
  }

  private canRetry(): boolean {
    return this.attempts <= this.retry.attempts && this.replayable();
  }

  /** The request can be sent again: its body was never read, and the client is still there. */
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

  private end(status: number, flags: ResponseFlag): void {
    if (this.ended) return;
    this.ended = true;
    if (this.routeTimer) clearTimeout(this.routeTimer);
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
