/**
 * One downstream connection of Lanecar's HTTP/1.1 server (server.ts): its parser, the requests
 * it carries in order (`ServerStream`), framing checks beyond llhttp's, error replies owed after
 * the responses already due, half-close, and its deadline phase for the server's sweep.
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import {
  allocParser,
  kOnBody,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageBegin,
  kOnMessageComplete,
  METHODS,
  type OnHeadersComplete,
  type ParseError,
  type Parser,
  REQUEST,
  releaseParser,
} from "./llhttp.js";
import type { H1Server } from "./server.js";
import { ServerStream } from "./stream.js";
import { VersionLineCheck } from "./version-line.js";

function errorReply(status: 400 | 405 | 408 | 431 | 501, text?: string): string {
  const body =
    text ??
    (status === 431
      ? "Request Header Fields Too Large"
      : status === 408
        ? "Request Timeout"
        : status === 405
          ? "Method Not Allowed"
          : status === 501
            ? "Not Implemented"
            : "Bad Request");
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain\r\nx-lanecar-flags: DPE\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

const REPLY_400 = errorReply(400);
const REPLY_408 = errorReply(408);
const REPLY_431 = errorReply(431);
const REPLY_431_COUNT = errorReply(431, "too many request headers");
const REPLY_CONNECT = errorReply(405, "CONNECT is not supported");
const REPLY_CODING = errorReply(501, "transfer coding not supported");
const REPLY_VERSION = errorReply(400, "unsupported HTTP version");

/**
 * A Host value (RFC 9110 §7.2: uri-host [":" port]): an IP literal or a reg-name. A comma (a
 * list, e.g. two Host headers joined) and userinfo (`@`) are refused, as is any whitespace.
 */
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]*)(?::[0-9]*)?$/;
const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";

const IDLE = 0;
export const HEAD = 1;
export const BODY = 2;

/** One client connection: its parser and its requests in order ([0] is being answered). */
export class ServerConnection {
  private parser: Parser | undefined;
  readonly streams: ServerStream[] = [];
  /** The stream whose request message is being parsed. */
  private parsing: ServerStream | undefined;
  private flushedHeaders: string[] = [];
  private flushedUrl = "";
  /** The last head was an upgrade request: llhttp stops after it; parsing continues below. */
  private upgraded = false;
  /** Where the parser is in the current request (IDLE, HEAD, BODY) and since when. */
  phase = IDLE;
  since = Date.now();
  /** No more requests are read on this connection. */
  closing = false;
  /** Error reply to send once the responses already owed are out (then close). */
  private owed: string | undefined;
  /** Reply chosen by a callback that stopped the parser (sent instead of the generic 400). */
  private fatal: string | undefined;
  private paused = false;
  private blockedBy: ServerStream | undefined;
  private headWaiting: ServerStream | undefined;
  private flushScheduled = false;
  /** Requests read on this connection (none yet: the headers timeout applies while idle). */
  requests = 0;
  /** HTTP/0.9 request lines are refused when their line end arrives (version-line.ts). */
  private readonly versionLine = new VersionLineCheck();

  constructor(
    readonly server: H1Server,
    readonly socket: Socket,
  ) {
    const p = allocParser(REQUEST, server.limits.maxHeaderSize);
    this.parser = p;
    p[kOnMessageBegin] = this.onMessageBegin;
    p[kOnHeaders] = this.onHeaders;
    p[kOnHeadersComplete] = this.onHeadersComplete;
    p[kOnBody] = this.onBody;
    p[kOnMessageComplete] = this.onMessageComplete;
    socket.setNoDelay(true);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", onSocketError);
    socket.on("close", this.onClose);
    socket.on("drain", this.onDrain);
  }

  // ---- parser callbacks ----

  private readonly onMessageBegin = (): void => {
    this.phase = HEAD;
    this.since = Date.now();
    this.versionLine.begin();
  };

  private readonly onHeaders = (headers: string[], url: string): void => {
    for (const h of headers) this.flushedHeaders.push(h);
    this.flushedUrl += url;
  };

  private readonly onHeadersComplete: OnHeadersComplete = (
    major,
    minor,
    headers,
    method,
    url,
    _status,
    _message,
    upgrade,
    keepAlive,
  ) => {
    if (headers === undefined) {
      headers = this.flushedHeaders;
      this.flushedHeaders = [];
    }
    if (url === undefined) {
      url = this.flushedUrl;
      this.flushedUrl = "";
    } else if (this.flushedUrl) {
      url = this.flushedUrl + url;
      this.flushedUrl = "";
    }
    this.phase = BODY;
    if (this.closing) {
      // A request after `Connection: close` (or after an error): not read.
      return -1;
    }
    if (major !== 1) {
      // HTTP/0.9 (`GET /` then an empty line): no version, no headers worth the name.
      this.fatal = REPLY_VERSION;
      return -1;
    }
    const limits = this.server.limits;
    if (headers.length > limits.maxHeadersCount * 2) {
      this.fatal = REPLY_431_COUNT;
      return -1;
    }
    const name = METHODS[method] ?? "";
    if (name === "CONNECT") {
      this.fatal = REPLY_CONNECT;
      return -1;
    }
    let hosts = 0;
    let host = "";
    let body = false;
    let codings = 0;
    let coding = "";
    let expect: string | undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i]!;
      switch (k.length) {
        case 4:
          if (k.toLowerCase() === "host") {
            hosts++;
            host = headers[i + 1]!;
          }
          break;
        case 6:
          if (k.toLowerCase() === "expect") expect = headers[i + 1]!;
          break;
        case 14:
          if (headers[i + 1] !== "0" && k.toLowerCase() === "content-length") body = true;
          break;
        case 17:
          if (k.toLowerCase() === "transfer-encoding") {
            body = true;
            codings++;
            coding = headers[i + 1]!;
          }
          break;
      }
    }
    // RFC 9112 §3.2: exactly one Host on HTTP/1.1, at most one on HTTP/1.0, and a valid one.
    if (hosts > 1 || (hosts === 0 && minor === 1) || (hosts === 1 && !VALID_HOST.test(host))) {
      this.fatal = REPLY_400;
      return -1;
    }
    if (codings > 0) {
      // RFC 9112 §6.1/§6.3: HTTP/1.0 has no Transfer-Encoding, and a last coding other than
      // chunked leaves the length unknown: the framing is faulty (400). A coding before chunked
      // (`gzip, chunked`) is one Lanecar does not implement: 501, never silently dropped.
      if (codings > 1 || (coding !== "chunked" && coding.toLowerCase() !== "chunked")) {
        const last = coding
          .slice(coding.lastIndexOf(",") + 1)
          .trim()
          .toLowerCase();
        this.fatal = minor === 0 || last !== "chunked" ? REPLY_400 : REPLY_CODING;
        return -1;
      }
      if (minor === 0) {
        this.fatal = REPLY_400;
        return -1;
      }
    }
    // A fragment is never part of a request target (RFC 9112 §3.2): refused, as Envoy does.
    if (url.includes("#")) {
      this.fatal = REPLY_400;
      return -1;
    }
    this.requests++;
    this.versionLine.headers(body && codings === 0);
    const s = new ServerStream(this, name, url, headers, minor, keepAlive, body);
    this.parsing = s;
    this.streams.push(s);
    if (!keepAlive) this.closing = true;
    if (upgrade) this.upgraded = true;
    if (expect !== undefined && body && minor === 1 && expect.toLowerCase() === "100-continue") {
      s.expectContinue = true;
    }
    return 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    this.parsing?.pushBody(chunk);
  };

  private readonly onMessageComplete = (): void => {
    // Trailers: llhttp flushes them through onHeaders right before this call. They are dropped
    // (as Envoy does by default for HTTP/1.1, see decisions.md) and, with the URL, must never
    // be taken for part of the next message's head: per-message state ends here.
    if (this.flushedHeaders.length > 0) this.flushedHeaders.length = 0;
    this.flushedUrl = "";
    this.versionLine.complete();
    const s = this.parsing;
    this.parsing = undefined;
    this.phase = IDLE;
    this.since = Date.now();
    s?.complete();
  };

  // ---- socket events ----

  private readonly onData = (data: Buffer): void => {
    const p = this.parser;
    if (!p || (this.closing && !this.parsing)) return;
    if (this.phase === IDLE) {
      this.phase = HEAD;
      this.since = Date.now();
    }
    this.versionLine.read();
    let ret = p.execute(data);
    while (this.upgraded && typeof ret === "number" && this.fatal === undefined) {
      // llhttp stops after an upgrade request's head; Lanecar proxies it as a plain request
      // (Upgrade is hop-by-hop) and parses on.
      this.upgraded = false;
      if (ret >= data.length || this.closing) break;
      data = data.subarray(ret);
      ret = p.execute(data);
    }
    // A callback may have refused the request (`fatal`): llhttp reports that as an error, except
    // for a message it flagged as an upgrade (CONNECT, Upgrade + Connection: upgrade), where the
    // binding returns a byte count. Either way the refusal is what counts.
    if (
      this.phase === HEAD &&
      this.parsing === undefined &&
      this.fatal === undefined &&
      typeof ret === "number" &&
      this.versionLine.watching &&
      !this.versionLine.ok(data)
    ) {
      this.fatal = REPLY_VERSION;
    }
    if (this.fatal !== undefined) this.parseError(undefined);
    else if (typeof ret !== "number") this.parseError(ret);
    this.pump();
  };

  private readonly onEnd = (): void => {
    // The client half-closed (FIN). A request cut short (head or body) is malformed: 400 after
    // the responses owed. Complete requests still get their responses, then the connection
    // closes; with nothing owed it closes now.
    const err = this.parser?.finish();
    if (err && (this.parsing || (this.phase === HEAD && !this.closing))) {
      this.parseError(err);
      this.pump();
      return;
    }
    this.closing = true;
    if (this.streams.length === 0) {
      if (this.owed !== undefined) this.sendOwed();
      else this.socket.end();
      return;
    }
    this.updateReading();
  };

  private readonly onClose = (): void => {
    this.server.conns.delete(this);
    this.closing = true;
    const streams = this.streams.splice(0);
    for (const s of streams) s.abort();
    this.parsing?.abort();
    this.parsing = undefined;
    const p = this.parser;
    this.parser = undefined;
    if (p) setImmediate(releaseParser, p);
  };

  private readonly onDrain = (): void => {
    this.streams[0]?.drained();
  };

  // ---- flow ----

  /** Answers requests in order: hands the next one to the handler when the previous is done. */
  private pump(): void {
    const s = this.streams[0];
    if (s) {
      if (!s.dispatched) {
        s.dispatched = true;
        // `Expect: 100-continue`: the body is wanted, say so when the request's turn comes.
        if (s.expectContinue && !s.requestComplete) this.socket.write(CONTINUE, "latin1");
        this.server.handler(s);
      }
    } else if (this.owed !== undefined) {
      this.sendOwed();
      return;
    }
    this.updateReading();
  }

  /** Called when `s` ended its response. */
  responseDone(s: ServerStream): void {
    if (this.streams[0] !== s) return;
    this.streams.shift();
    if (!s.keepAlive || !s.requestComplete || (this.closing && this.streams.length === 0 && !this.parsing)) {
      // Connection: close, or the response ended before the request body was read: close after it.
      this.closing = true;
      this.parsing = undefined;
      if (this.owed !== undefined) this.sendOwed();
      else this.socket.end();
      for (const rest of this.streams.splice(0)) rest.abort();
      return;
    }
    if (this.phase === IDLE) this.since = Date.now();
    if (this.streams.length === 0 && this.server.draining && !this.parsing) {
      this.closing = true;
      this.socket.end();
      return;
    }
    this.pump();
  }

  /** A head not followed by body bytes in this tick is written at its end. */
  flushLater(s: ServerStream): void {
    this.headWaiting = s;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushTick);
    }
  }

  private readonly flushTick = (): void => {
    this.flushScheduled = false;
    const s = this.headWaiting;
    this.headWaiting = undefined;
    s?.flushHead();
  };

  waitDrain(): void {
    if (!this.socket.writableNeedDrain) this.streams[0]?.drained();
  }

  pauseFor(s: ServerStream): void {
    this.blockedBy = s;
    this.updateReading();
  }

  resumeFor(s: ServerStream): void {
    if (this.blockedBy === s) this.blockedBy = undefined;
    this.updateReading();
  }

  private updateReading(): void {
    const blocked = this.blockedBy;
    const stop =
      (blocked !== undefined && !blocked.aborted && !blocked.finished) ||
      this.streams.length > 1 ||
      (this.closing && !this.parsing);
    if (stop && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Input that does not parse (or a limit/timeout): answer `reply` after what is owed, close. */
  private parseError(err: ParseError | undefined, reply?: string): void {
    const fatal = this.fatal;
    this.fatal = undefined;
    const wasClosing = this.closing;
    this.closing = true;
    const broken = this.parsing;
    if (reply === undefined) {
      if (fatal !== undefined) reply = fatal;
      // Bytes after a `Connection: close` request are not read, so not answered either.
      else if (wasClosing && broken === undefined) reply = undefined;
      else reply = err?.code === "HPE_HEADER_OVERFLOW" ? REPLY_431 : REPLY_400;
    }
    this.parsing = undefined;
    if (broken) {
      // Its head parsed, its body did not: none of it may be forwarded (or more of it, if it
      // already went). Its response is the error reply, unless that response already started.
      const i = this.streams.indexOf(broken);
      if (i >= 0) this.streams.splice(i, 1);
      if (broken.headersSent) {
        broken.abort();
        this.socket.destroy();
        return;
      }
      broken.abort();
    }
    // Responses still owed on this connection go first (the last says Connection: close).
    if (reply === undefined) {
      this.updateReading();
      return;
    }
    this.owed = reply;
  }

  private sendOwed(): void {
    const reply = this.owed!;
    this.owed = undefined;
    if (this.socket.writable) this.socket.end(reply, "latin1");
    else this.socket.destroy();
  }

  /** The sweep found this connection over a deadline. */
  timedOut(): void {
    if (this.phase === IDLE) {
      this.closing = true;
      this.socket.destroy();
      return;
    }
    this.parseError(undefined, REPLY_408);
    this.pump();
  }

  /** Drain: an idle connection closes now; a busy one after its response. */
  closeIfIdle(): void {
    if (this.streams.length === 0 && !this.parsing && this.phase === IDLE) {
      this.closing = true;
      this.socket.end();
    }
  }
}

function onSocketError(): void {
  // 'close' follows; in-flight streams are aborted there.
}
