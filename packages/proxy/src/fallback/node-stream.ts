/**
 * The fallback data path's downstream stream: one node:http request and its response behind the
 * `DownstreamStream` interface the listeners and the exchange use (see data-path.ts for when this
 * path runs). Semantics follow h1/stream.ts: the body goes to one sink with backpressure, a
 * response that cannot be framed safely resets the connection, and `keepAlive = false` (or a
 * draining server) makes the response say `Connection: close`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { BodySink, DownstreamStream } from "../http/downstream.js";

/** A response field may never carry CR, LF or NUL (response splitting). */
const UNSAFE_HEAD = /[\0\r\n]/;

export class NodeStream implements DownstreamStream {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly httpMinor: number;
  readonly hasBody: boolean;
  bodyTouched = false;
  bodyBytesIn = 0;
  bodyBytesOut = 0;
  keepAlive = true;
  onAbort: (() => void) | undefined;
  aborted = false;
  private sink: BodySink | undefined;
  private drainWaiter: (() => void) | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** True while the server drains: every response closes its connection. */
    private readonly draining: () => boolean,
  ) {
    this.method = req.method ?? "GET";
    this.url = req.url ?? "/";
    this.rawHeaders = req.rawHeaders;
    this.httpMinor = req.httpVersionMinor;
    const te = req.headers["transfer-encoding"];
    const cl = req.headers["content-length"];
    this.hasBody = te !== undefined || (cl !== undefined && cl !== "0");
    res.on("close", this.closed);
    req.on("data", this.onData);
    req.on("end", this.onEnd);
    req.pause();
  }

  get requestComplete(): boolean {
    return this.req.complete;
  }
  get remoteAddress(): string | undefined {
    return this.req.socket.remoteAddress;
  }
  get localPort(): number | undefined {
    return this.req.socket.localPort;
  }
  get socket(): Socket {
    return this.req.socket;
  }
  get headersSent(): boolean {
    return this.res.headersSent;
  }
  get finished(): boolean {
    return this.res.writableEnded;
  }

  private readonly closed = (): void => {
    if (this.res.writableFinished || this.aborted) return;
    this.aborted = true;
    this.sink = undefined;
    const fn = this.onAbort;
    this.onAbort = undefined;
    fn?.();
  };

  private readonly onData = (chunk: Buffer): void => {
    const sink = this.sink;
    if (!sink) {
      this.req.pause();
      this.req.unshift(chunk);
      return;
    }
    this.bodyTouched = true;
    this.bodyBytesIn += chunk.length;
    if (!sink.data(chunk)) this.req.pause();
  };

  private readonly onEnd = (): void => {
    this.sink?.end();
  };

  readBody(sink: BodySink): void {
    this.sink = sink;
    if (this.req.readableEnded) sink.end();
    else this.req.resume();
  }

  resumeBody(): void {
    if (this.sink) this.req.resume();
  }

  detachBody(): void {
    this.sink = undefined;
    this.req.pause();
  }

  writeHead(status: number, reason: string | undefined, headers: readonly string[]): void {
    if (this.res.headersSent || this.aborted) return;
    const flat: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      const v = headers[i + 1]!;
      if (UNSAFE_HEAD.test(k) || UNSAFE_HEAD.test(v)) {
        // A field carrying a line break would split the response: never send it.
        this.res.destroy();
        return;
      }
      flat.push(k, v);
    }
    // A response before the whole request arrived closes the connection (as the codec): the rest
    // of the body is not read.
    // So does one after the client's FIN (a half-close).
    if (this.draining() || !this.req.complete || this.req.socket.readableEnded) this.keepAlive = false;
    if (!this.keepAlive) {
      this.res.shouldKeepAlive = false;
      flat.push("connection", "close");
    }
    const phrase = reason && !UNSAFE_HEAD.test(reason) ? reason : undefined;
    try {
      if (phrase) this.res.writeHead(status, phrase, flat);
      else this.res.writeHead(status, flat);
    } catch {
      // node:http refused a field (invalid characters): a reset is the only honest answer.
      this.res.destroy();
    }
  }

  write(chunk: Buffer | string): boolean {
    if (this.res.writableEnded || this.aborted) return true;
    this.bodyBytesOut += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    return this.res.write(chunk);
  }

  end(chunk?: Buffer | string): void {
    if (this.res.writableEnded || this.aborted) return;
    if (!this.res.headersSent && this.res.destroyed) return;
    if (chunk !== undefined && this.method !== "HEAD") this.write(chunk);
    this.res.end();
    if (!this.keepAlive) this.req.socket.destroySoon();
  }

  onDrain(fn: () => void): void {
    this.drainWaiter = fn;
    this.res.once("drain", this.drained);
  }

  private readonly drained = (): void => {
    const w = this.drainWaiter;
    this.drainWaiter = undefined;
    w?.();
  };

  destroy(): void {
    this.res.destroy();
    this.req.socket.destroy();
  }
}
