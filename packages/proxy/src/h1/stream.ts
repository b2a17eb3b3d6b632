/**
 * One request on a downstream connection and its response (`ServerStream`): what the listeners
 * see of Lanecar's HTTP/1.1 server (server.ts). The request side hands its body to a sink with
 * backpressure; the response side frames what it is given (Content-Length as given, else chunked
 * on HTTP/1.1 or close-delimited on HTTP/1.0; no body for HEAD, 1xx, 204, 304) and sends a small
 * response in one write.
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { BodySink, DownstreamStream } from "../http/downstream.js";
import type { ServerConnection } from "./server-connection.js";

export type { BodySink } from "../http/downstream.js";

/** Pipelined or not-yet-consumed request body bytes above this pause reading from the client. */
const BODY_BUFFER_LIMIT = 64 * 1024;

/** A response field may never carry CR, LF or NUL (response splitting). */
const UNSAFE_HEAD = /[\0\r\n]/;

/** Body chunks up to this size leave in the same write as the head (copied once). */
const COALESCE_MAX = 16 * 1024;

/** `head` (latin1) then `body`, framed as one chunk when `chunked`, in one buffer. */
function withHead(head: string, body: Buffer, chunked: boolean): Buffer {
  const prefix = chunked ? `${head}${body.length.toString(16)}\r\n` : head;
  const n = prefix.length;
  const out = Buffer.allocUnsafe(n + body.length + (chunked ? 2 : 0));
  out.write(prefix, 0, n, "latin1");
  body.copy(out, n);
  if (chunked) {
    out[n + body.length] = 13;
    out[n + body.length + 1] = 10;
  }
  return out;
}

/** One request and its response. */
export class ServerStream implements DownstreamStream {
  // ---- request ----
  /** Request body bytes go upstream: Content-Length > 0 or Transfer-Encoding. */
  readonly hasBody: boolean;
  /** The request message was received completely. */
  requestComplete = false;
  /** A chunk of the body was handed to a sink: the request can no longer be replayed. */
  bodyTouched = false;
  private chunks: Buffer[] | undefined;
  private buffered = 0;
  private sink: BodySink | undefined;
  dispatched = false;
  /** Sent `Expect: 100-continue` with a body. */
  expectContinue = false;
  /** Request body bytes received (decoded: no chunk framing), for `istio_request_bytes`. */
  bodyBytesIn = 0;

  // ---- response ----
  headersSent = false;
  /** The response was ended (all of it handed to the socket). */
  finished = false;
  /** The connection went away (or the request broke) before the response ended. */
  aborted = false;
  /** False: the response says `Connection: close` and the connection closes after it. */
  keepAlive: boolean;
  private chunked = false;
  private noBody = false;
  /** The response head, written with the first body bytes. */
  private pendingHead: string | undefined;
  /** Called once if the client goes away before the response ends. */
  onAbort: (() => void) | undefined;
  /** Response body bytes written (before chunk framing), for `istio_response_bytes`. */
  bodyBytesOut = 0;
  private drainWaiter: (() => void) | undefined;

  constructor(
    readonly conn: ServerConnection,
    readonly method: string,
    readonly url: string,
    readonly rawHeaders: string[],
    readonly httpMinor: number,
    keepAlive: boolean,
    hasBody: boolean,
  ) {
    this.keepAlive = keepAlive;
    this.hasBody = hasBody;
  }

  get remoteAddress(): string | undefined {
    return this.conn.socket.remoteAddress;
  }
  get localPort(): number | undefined {
    return this.conn.socket.localPort;
  }
  get socket(): Socket {
    return this.conn.socket;
  }

  // ---- request body ----

  /** Called by the connection's parser. */
  pushBody(chunk: Buffer): void {
    this.bodyBytesIn += chunk.length;
    const sink = this.sink;
    if (sink) {
      this.bodyTouched = true;
      if (!sink.data(chunk)) this.conn.pauseFor(this);
      return;
    }
    (this.chunks ??= []).push(chunk);
    this.buffered += chunk.length;
    if (this.buffered > BODY_BUFFER_LIMIT) this.conn.pauseFor(this);
  }

  /** Called by the connection's parser at the end of the message. */
  complete(): void {
    this.requestComplete = true;
    this.sink?.end();
  }

  /** Starts delivering the body to `sink` (buffered chunks first). */
  readBody(sink: BodySink): void {
    this.sink = sink;
    const chunks = this.chunks;
    this.chunks = undefined;
    this.buffered = 0;
    let more = true;
    if (chunks) {
      this.bodyTouched = true;
      for (const c of chunks) more = sink.data(c) && more;
    }
    if (this.requestComplete) sink.end();
    else if (more) this.conn.resumeFor(this);
  }

  /** The sink can take more (after `data` returned false). */
  resumeBody(): void {
    this.conn.resumeFor(this);
  }

  /** Stops delivering the body (the upstream attempt ended). */
  detachBody(): void {
    this.sink = undefined;
  }

  // ---- response ----

  /** Sends the status line and headers (`headers` is a flat name/value list without framing). */
  writeHead(status: number, reason: string | undefined, headers: readonly string[]): void {
    if (this.headersSent || this.aborted) return;
    this.headersSent = true;
    const noBody = this.method === "HEAD" || status === 204 || status === 304 || status < 200;
    this.noBody = noBody;
    const conn = this.conn;
    // An upstream's reason phrase is kept unless it could split the head (llhttp lets NUL through).
    const phrase = reason && !UNSAFE_HEAD.test(reason) ? reason : STATUS_CODES[status] || "Unknown";
    let head = `HTTP/1.1 ${status} ${phrase}\r\n`;
    let length = false;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      const v = headers[i + 1]!;
      if (k.length === 14 && !length && k.toLowerCase() === "content-length") length = true;
      if (UNSAFE_HEAD.test(v) || UNSAFE_HEAD.test(k)) {
        // A field carrying a line break would split the response: never send it.
        this.headersSent = false;
        conn.socket.destroy();
        return;
      }
      head += `${k}: ${v}\r\n`;
    }
    if (!noBody && !length) {
      if (this.httpMinor >= 1) {
        head += "transfer-encoding: chunked\r\n";
        this.chunked = true;
      } else this.keepAlive = false; // HTTP/1.0: the end of the body is the end of the connection
    }
    // The last request a closing (or draining) connection answers says so.
    if ((conn.closing || conn.server.draining) && conn.streams[conn.streams.length - 1] === this)
      this.keepAlive = false;
    // A response that starts before its request was read whole (an early 413/401/503): the
    // connection closes after it (responseDone), so the response must say so.
    if (!this.requestComplete) this.keepAlive = false;
    if (!this.keepAlive) head += "connection: close\r\n";
    else if (this.httpMinor === 0) head += "connection: keep-alive\r\n";
    head += "\r\n";
    // Held until the first body bytes (or the end, or the end of this tick) so that a small
    // response leaves in one write: one syscall, no cork/writev bookkeeping.
    this.pendingHead = head;
    conn.flushLater(this);
  }

  /** Writes the head if it is still held (end of the tick after writeHead). */
  flushHead(): void {
    const head = this.pendingHead;
    if (head === undefined || this.aborted) return;
    this.pendingHead = undefined;
    this.conn.socket.write(head, "latin1");
  }

  /** Writes body bytes; false = the client is slow, wait for `onDrain`. */
  write(chunk: Buffer | string): boolean {
    if (this.finished || this.aborted || this.noBody) return true;
    const body = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const len = body.length;
    if (len === 0) return true;
    this.bodyBytesOut += len;
    const socket = this.conn.socket;
    const head = this.pendingHead;
    if (head !== undefined) {
      this.pendingHead = undefined;
      if (len <= COALESCE_MAX) return socket.write(withHead(head, body, this.chunked));
      socket.write(head, "latin1");
    }
    if (this.chunked) return socket.write(withHead("", body, true));
    return socket.write(body);
  }

  /** Ends the response (with a last chunk of body, if given). */
  end(chunk?: Buffer | string): void {
    if (this.finished || this.aborted) return;
    if (chunk !== undefined) this.write(chunk);
    const last = this.chunked && !this.noBody ? "0\r\n\r\n" : "";
    const head = this.pendingHead;
    if (head !== undefined) {
      this.pendingHead = undefined;
      this.conn.socket.write(head + last, "latin1");
    } else if (last) this.conn.socket.write(last, "latin1");
    this.finished = true;
    this.conn.responseDone(this);
  }

  /** Calls `fn` once when the client has drained what was written. */
  onDrain(fn: () => void): void {
    this.drainWaiter = fn;
    this.conn.waitDrain();
  }

  /** @internal */
  drained(): void {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    w?.();
  }

  /** Resets the client connection: a response cut short must never look complete. */
  destroy(): void {
    this.conn.socket.destroy();
  }

  /** @internal The client is gone (or the request broke) before the response ended. */
  abort(): void {
    if (this.finished || this.aborted) return;
    this.aborted = true;
    this.sink = undefined;
    const fn = this.onAbort;
    this.onAbort = undefined;
    fn?.();
  }
}
