/**
 * One kept-alive upstream connection of a pool (client.ts) and the request attempts it carries:
 * connect, write the request (body streamed with backpressure), parse the response with Node's
 * strict llhttp, deadlines, reuse or close, and the one transparent retry of a request lost on a
 * reused connection before any response byte.
 */
import net, { type Socket } from "node:net";
import tls from "node:tls";
import type { BodySink } from "../http/downstream.js";
import type { UpstreamPool } from "./client.js";
import {
  allocParser,
  kOnBody,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageBegin,
  kOnMessageComplete,
  type OnHeadersComplete,
  type Parser,
  RESPONSE,
  releaseParser,
} from "./llhttp.js";
import {
  ABORTED,
  BODY_TIMEOUT,
  CONNECT_TIMEOUT,
  HEADERS_TIMEOUT,
  IDEMPOTENT,
  MAX_IDLE_MS,
  PROTOCOL,
  RESET,
  type ResponseHandler,
  SWEPT_TIMEOUT_MS,
  TLS_HANDSHAKE,
  UNSAFE,
  UpstreamError,
  type UpstreamRequest,
} from "./upstream-contract.js";

/** One request in a pool: queued, then on a connection, then done. */
export class Attempt {
  conn: Connection | undefined;
  done = false;
  bodySent = false;
  gotHeaders = false;
  /** Sent once more after being lost on a reused connection (only ever once). */
  retried = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pool: UpstreamPool,
    readonly req: UpstreamRequest,
    readonly handler: ResponseHandler,
  ) {}

  /** Backpressure released by the handler: read the upstream again (if still this attempt's). */
  readonly resume = (): void => {
    const c = this.conn;
    if (c && c.cur === this) c.socket.resume();
  };

  readonly abort = (err?: Error): void => {
    if (this.done) return;
    const conn = this.conn;
    if (conn) conn.fail(this, err ?? new UpstreamError(ABORTED, "request aborted"));
    else {
      this.pool.unqueue(this);
      this.finish();
      this.handler.onError(err ?? new UpstreamError(ABORTED, "request aborted"));
    }
  };

  /** Marks the attempt done (idempotent bookkeeping; the caller makes the terminal call). */
  finish(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.req.body?.detachBody();
  }
}

export class Connection {
  readonly socket: Socket;
  private parser: Parser | undefined;
  cur: Attempt | undefined;
  connecting = true;
  private connectTimer: NodeJS.Timeout | undefined;
  served = 0;
  /** Last activity (ms): idle since, request sent at, or last body chunk. */
  at = Date.now();
  /** Idle deadline: the pool's idle timeout or the upstream's keep-alive hint. */
  idleMs: number;
  private keepAlive = true;
  private info = false;
  private chunkedBody = false;
  private flushed: string[] = [];
  private error: (Error & { code?: string }) | undefined;
  closed = false;
  /** The upstream ended its side: never handed another request. */
  ended = false;
  /** A response ended in the current read: reported (and the connection released) by settle(). */
  private completed: Attempt | undefined;
  private reusable = false;
  /** Bytes arrived that belong to no request: the connection is never reused. */
  private tainted = false;
  /** Why onHeadersComplete refused the response. */
  private refused: string | undefined;
  /** A response byte arrived for the current request. */
  private answered = false;
  private handshaking = false;

  constructor(readonly pool: UpstreamPool) {
    const o = pool.opts;
    this.idleMs = Math.min(o.idleTimeoutMs, MAX_IDLE_MS);
    const t = o.tls;
    // TLS (mutual between sidecars, or originated to an external service): the request goes out
    // once the handshake is done. Certificates that cannot be had fail the connection as TLS.
    let secureContext: tls.SecureContext | undefined;
    if (t) {
      try {
        secureContext = t.context();
      } catch (err) {
        this.error = new UpstreamError(TLS_HANDSHAKE, `TLS_error: ${(err as Error).message}`);
      }
    }
    const socket = !t
      ? net.connect({ host: pool.host, port: pool.port, noDelay: true, lookup: o.lookup })
      : secureContext
        ? tls.connect({
            host: pool.host,
            port: pool.port,
            lookup: o.lookup,
            secureContext,
            servername: t.servername,
            rejectUnauthorized: t.rejectUnauthorized !== false,
            checkServerIdentity: t.checkPeer,
            session: t.session(),
          })
        : new net.Socket();
    this.socket = socket;
    if (t && secureContext) {
      socket.setNoDelay(true);
      socket.on("session", t.saveSession);
      socket.once("connect", this.onTcpConnect);
    }
    this.connectTimer = setTimeout(() => {
      this.error = new UpstreamError(CONNECT_TIMEOUT, `connect timeout after ${o.connectTimeoutMs} ms`);
      socket.destroy();
    }, o.connectTimeoutMs);
    const p = allocParser(RESPONSE, o.maxHeaderSize);
    this.parser = p;
    p[kOnMessageBegin] = this.onMessageBegin;
    p[kOnHeaders] = this.onHeaders;
    p[kOnHeadersComplete] = this.onHeadersComplete;
    p[kOnBody] = this.onBody;
    p[kOnMessageComplete] = this.onMessageComplete;
    socket.on(t ? "secureConnect" : "connect", this.onConnect);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
    socket.on("drain", this.onDrain);
    // No context: the never-connected socket closes at once and the attempt sees `this.error`.
    if (t && !secureContext) socket.destroy();
  }

  // ---- socket events ----

  private readonly onConnect = (): void => {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connecting = false;
    if (this.cur) this.send(this.cur);
    else this.pool.release(this);
  };

  private readonly onData = (data: Buffer): void => {
    const p = this.parser;
    if (!p) return;
    this.answered = true;
    const ret = p.execute(data);
    const x = this.cur;
    if (typeof ret !== "number" || this.refused !== undefined) {
      // A refusal in onHeadersComplete is an error from llhttp, except for a message it flagged
      // as an upgrade (a 101 with Upgrade headers), where the binding returns a byte count.
      const why = this.refused ?? (typeof ret === "number" ? "" : ret.code);
      this.refused = undefined;
      this.tainted = true;
      if (x) this.fail(x, new UpstreamError(PROTOCOL, `upstream sent an invalid response: ${why}`));
      else this.socket.destroy();
    }
    this.settle();
  };

  /**
   * After a read: hands the completed exchange back. The connection goes back to the pool only
   * now, once the parser is done with the read — bytes after the response (a stray body, a forged
   * second response) must never be credited to the next request, so they taint the connection.
   */
  private settle(): void {
    const done = this.completed;
    if (!done) return;
    this.completed = undefined;
    if (this.reusable && !this.tainted && !this.closed) {
      this.at = Date.now();
      this.pool.release(this);
    } else this.socket.destroy();
    done.handler.onComplete();
  }

  private readonly onEnd = (): void => {
    // The peer hung up in the TLS handshake: a TLS failure (onClose says so), not a reset.
    if (this.connecting) {
      this.socket.destroy();
      return;
    }
    // A read-until-close body completes here; anything else in flight was cut short.
    const err = this.parser?.finish();
    this.reusable = false;
    this.settle();
    const x = this.cur;
    if (x && !this.retry(x)) {
      this.fail(
        x,
        err
          ? new UpstreamError(PROTOCOL, `upstream response ended early: ${err.code}`)
          : new UpstreamError(RESET, "upstream closed the connection"),
      );
    }
    this.ended = true;
    this.socket.destroy();
  };

  /** TLS pools: TCP is up, the handshake runs (its failures are TLS_HANDSHAKE, not a reset). */
  private readonly onTcpConnect = (): void => {
    this.handshaking = true;
  };

  private readonly onError = (err: Error): void => {
    this.error ??=
      this.handshaking && this.connecting
        ? new UpstreamError(
            TLS_HANDSHAKE,
            `TLS_error: ${(err as { code?: string }).code ? `${(err as { code?: string }).code} ` : ""}${err.message}`,
          )
        : err;
  };

  private readonly onClose = (): void => {
    this.closed = true;
    if (this.handshaking && this.connecting)
      this.error ??= new UpstreamError(
        TLS_HANDSHAKE,
        "TLS_error: the peer closed the connection in the handshake",
      );
    if (this.connectTimer) clearTimeout(this.connectTimer);
    const x = this.cur;
    if (x && !this.retry(x)) {
      const e = this.error;
      this.fail(
        x,
        e && (this.connecting || (e as { code?: string }).code)
          ? e
          : new UpstreamError(RESET, "upstream closed the connection"),
      );
    }
    const p = this.parser;
    this.parser = undefined;
    if (p) setImmediate(releaseParser, p);
    this.pool.removed(this);
  };

  /**
   * The connection was lost under `x`. When it had served a request before (the upstream closed
   * it just as it was reused), no byte of the response came and `x` can be sent again
   * (idempotent, no body byte read), `x` moves to a new connection once. True if it did.
   */
  private retry(x: Attempt): boolean {
    if (this.served === 0 || this.answered || x.retried || x.done || this.connecting) return false;
    const body = x.req.body;
    if (!IDEMPOTENT.has(x.req.method) || body?.bodyTouched) return false;
    x.retried = true;
    this.cur = undefined;
    this.pool.running--;
    if (x.timer) {
      clearTimeout(x.timer);
      x.timer = undefined;
    }
    body?.detachBody();
    x.conn = undefined;
    this.socket.destroy();
    this.pool.retry(x, this);
    return true;
  }

  private readonly onDrain = (): void => {
    const body = this.cur?.req.body;
    if (body && !this.cur!.bodySent) body.resumeBody();
  };

  // ---- parser callbacks ----

  private readonly onHeaders = (headers: string[]): void => {
    for (const h of headers) this.flushed.push(h);
  };

  private readonly onHeadersComplete: OnHeadersComplete = (
    _major,
    _minor,
    headers,
    _method,
    _url,
    status,
    message,
    _upgrade,
    keepAlive,
  ) => {
    if (headers === undefined) {
      headers = this.flushed;
      this.flushed = [];
    }
    const x = this.cur;
    if (!x) {
      this.refused = "a response to no request";
      return -1;
    }
    if (status < 200) {
      if (status === 101) {
        this.refused = "101 Switching Protocols, but no upgrade was requested";
        return -1;
      }
      this.info = true; // 100 Continue, 103 Early Hints: the final response follows
      return 0;
    }
    this.keepAlive = keepAlive;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      if (k.length === 10 && k.toLowerCase() === "keep-alive") this.keepAliveHint(headers[i + 1]!);
    }
    x.gotHeaders = true;
    if (x.timer) {
      clearTimeout(x.timer);
      x.timer = undefined;
    }
    this.at = Date.now();
    if (!x.handler.onHeaders(status, headers, x.resume, message)) this.socket.pause();
    // A response to HEAD has no body whatever its headers say.
    return x.req.method === "HEAD" ? 1 : 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    const x = this.cur;
    if (!x) return;
    this.at = Date.now();
    if (!x.handler.onData(chunk)) this.socket.pause();
  };

  private readonly onMessageComplete = (): void => {
    // Trailers: flushed through onHeaders right before this call. Dropped (see decisions.md),
    // and never left in `flushed` for the next response's head.
    if (this.flushed.length > 0) this.flushed.length = 0;
    if (this.info) {
      this.info = false;
      return;
    }
    const x = this.cur;
    if (!x) return;
    this.cur = undefined;
    this.pool.running--;
    this.served++;
    this.reusable =
      this.keepAlive &&
      x.bodySent &&
      !this.pool.closed &&
      (this.pool.opts.maxRequestsPerConnection === 0 ||
        this.served < this.pool.opts.maxRequestsPerConnection);
    x.finish();
    // A handler that paused the upstream for backpressure resumes only its own attempt.
    this.socket.resume();
    // Released and reported once the parser has finished this read (settle()).
    this.completed = x;
  };

  private readonly onMessageBegin = (): void => {
    // A response starting while no request is outstanding: stray bytes, never reused.
    if (!this.cur) this.tainted = true;
  };

  /** `Keep-Alive: timeout=N`: close idle a second before the upstream would. */
  private keepAliveHint(value: string): void {
    const m = /timeout=(\d+)/i.exec(value);
    if (!m) return;
    const ms = Number(m[1]) * 1000 - 1000;
    if (ms < this.idleMs) this.idleMs = Math.max(ms, 0);
  }

  // ---- requests ----

  assign(x: Attempt): void {
    this.cur = x;
    x.conn = this;
    this.pool.running++;
    if (!this.connecting) this.send(x);
  }

  private send(x: Attempt): void {
    const r = x.req;
    this.answered = false;
    let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
    let length = false;
    const h = r.headers;
    for (let i = 0; i < h.length; i += 2) {
      const k = h[i]!;
      const v = h[i + 1]!;
      if (UNSAFE.test(v) || UNSAFE.test(k)) {
        this.fail(x, new UpstreamError(PROTOCOL, `header ${JSON.stringify(k)} carries a line break`));
        return;
      }
      if (k.length === 14 && k.toLowerCase() === "content-length") length = true;
      head += `${k}: ${v}\r\n`;
    }
    const body = r.body;
    this.chunkedBody = body !== null && !length;
    if (this.chunkedBody) head += "transfer-encoding: chunked\r\n";
    head += "\r\n";
    this.at = Date.now();
    if (r.headersTimeoutMs > 0 && r.headersTimeoutMs < SWEPT_TIMEOUT_MS) {
      x.timer = setTimeout(() => {
        if (!x.gotHeaders) this.fail(x, new UpstreamError(HEADERS_TIMEOUT, "upstream response timeout"));
      }, r.headersTimeoutMs);
    }
    if (body === null) {
      x.bodySent = true;
      this.socket.write(head, "latin1");
      return;
    }
    this.socket.cork();
    this.socket.write(head, "latin1");
    body.readBody(this.bodySink(x));
    this.socket.uncork();
  }

  private bodySink(x: Attempt): BodySink {
    const socket = this.socket;
    return {
      data: (chunk) => {
        if (x.done) return true;
        if (this.chunkedBody) {
          socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
          socket.write(chunk);
          return socket.write("\r\n", "latin1");
        }
        return socket.write(chunk);
      },
      end: () => {
        if (x.done) return;
        if (this.chunkedBody) socket.write("0\r\n\r\n", "latin1");
        x.bodySent = true;
      },
    };
  }

  /** Ends `x` with `err` and closes the connection (it cannot be reused mid-exchange). */
  fail(x: Attempt, err: Error): void {
    if (x.done) return;
    if (this.cur === x) {
      this.cur = undefined;
      this.pool.running--;
    }
    x.finish();
    this.socket.destroy();
    x.handler.onError(err);
  }

  /** Sweep: idle too long, or the response (headers or next body chunk) overdue. */
  check(now: number): void {
    const x = this.cur;
    if (!x) {
      if (!this.connecting && now - this.at >= this.idleMs) this.socket.destroy();
      return;
    }
    if (this.connecting) return;
    const r = x.req;
    if (!x.gotHeaders) {
      if (r.headersTimeoutMs >= SWEPT_TIMEOUT_MS && now - this.at >= r.headersTimeoutMs)
        this.fail(x, new UpstreamError(HEADERS_TIMEOUT, "upstream response timeout"));
    } else if (r.bodyTimeoutMs > 0 && now - this.at >= r.bodyTimeoutMs) {
      this.fail(x, new UpstreamError(BODY_TIMEOUT, "upstream body timeout"));
    }
  }
}
