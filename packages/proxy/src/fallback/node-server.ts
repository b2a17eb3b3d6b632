/**
 * The fallback data path's listener: node:http's server (public API) serving the same handlers
 * as Lanecar's own codec (h1/server.ts), with the same limits: strict parsing (lenient modes
 * never enabled), header size and count bounded (431), slow clients closed at their deadlines,
 * malformed input answered 400 and closed with nothing forwarded, CONNECT refused with 405.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { ServerLimits } from "../h1/server.js";
import type { DownstreamHandler, ListenerServer } from "../http/downstream.js";
import { NodeStream } from "./node-stream.js";

/** Connections already answered with an error reply (a dead parser may report more errors). */
const closing = new WeakSet<object>();

function reply(status: number, text: string, flag = "DPE"): string {
  return `HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\nx-lanecar-flags: ${flag}\r\nconnection: close\r\ncontent-length: ${text.length}\r\n\r\n${text}`;
}

/** The reply to a connection whose input did not parse: 400, 431 or 408, then close. */
function errorReply(err: NodeJS.ErrnoException): string {
  if (err.code === "HPE_HEADER_OVERFLOW") return reply(431, "Request Header Fields Too Large");
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") return reply(408, "Request Timeout");
  return reply(400, "Bad Request");
}

/** How often slow connections are looked for: a quarter of the shortest timeout, 50 ms to 1 s. */
function checkingInterval(limits: ServerLimits): number {
  const shortest = Math.min(limits.headersTimeoutMs || Infinity, limits.requestTimeoutMs || Infinity);
  return Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
}

export class NodeServer implements ListenerServer {
  readonly server: Server;
  draining = false;
  private readonly isDraining = (): boolean => this.draining;

  constructor(
    handler: DownstreamHandler,
    readonly limits: ServerLimits,
  ) {
    this.server = createServer(
      {
        maxHeaderSize: limits.maxHeaderSize,
        insecureHTTPParser: false,
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.headersTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        // Node checks both timeouts only every connectionsCheckingInterval (30 s by default).
        connectionsCheckingInterval: checkingInterval(limits),
        noDelay: true,
        joinDuplicateHeaders: false,
        requireHostHeader: true,
      },
      (req: IncomingMessage, res: ServerResponse) => {
        if (req.rawHeaders.length > limits.maxHeadersCount * 2) {
          res.shouldKeepAlive = false;
          res.writeHead(431, ["content-type", "text/plain", "x-lanecar-flags", "DPE", "connection", "close"]);
          res.end("too many request headers");
          return;
        }
        const refused = framingProblem(req);
        if (refused) {
          // As the codec (RFC 9112): answered at once and closed, nothing forwarded.
          res.shouldKeepAlive = false;
          res.writeHead(refused[0], [
            "content-type",
            "text/plain",
            "x-lanecar-flags",
            "DPE",
            "connection",
            "close",
          ]);
          res.end(refused[1]);
          req.socket.destroySoon();
          return;
        }
        // Served after this read's I/O callbacks: a body that fails to parse in the same packet
        // has been answered 400 by then, and nothing may go upstream for it.
        setImmediate(serveLater, handler, new NodeStream(req, res, this.isDraining));
      },
    );
    this.server.maxHeadersCount = 0; // counted above, so excess headers are refused, not dropped
    // A client's FIN after a complete request is a half-close: its response is still delivered
    // (as the codec). node:http honours this property of its server; where a Node ignores it,
    // a FIN aborts the request instead, as node:http did before.
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // node:http's headers timeout starts with the first byte: a connection that never sends one
    // is closed at the headers timeout too (as the codec), judged by bytes read.
    if (limits.headersTimeoutMs > 0)
      this.server.on("connection", (socket: Socket) => {
        setTimeout(closeSilent, limits.headersTimeoutMs, socket).unref();
      });
    // CONNECT is not proxied (as the codec: 405 and close).
    this.server.on("connect", (_req: IncomingMessage, socket: Socket) => {
      socket.end(reply(405, "Method Not Allowed"));
    });
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
      // A request whose head parsed but whose body did not has a response in flight: the 400 is
      // still owed unless that response already started, in which case only a reset is honest.
      if (closing.has(socket)) return;
      const inflight = (socket as unknown as { _httpMessage?: ServerResponse })._httpMessage;
      const text = errorReply(err);
      if (inflight && !inflight.headersSent && inflight.req.complete && socket.writable) {
        // The error is in a later pipelined request: the one in flight is answered first.
        closing.add(socket);
        inflight.shouldKeepAlive = false;
        inflight.once("prefinish", () => {
          if (socket.writable) socket.end(text);
          else socket.destroy();
        });
        return;
      }
      if (!socket.writable || inflight?.headersSent) {
        socket.destroy();
        return;
      }
      closing.add(socket);
      socket.end(text);
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host, port, backlog: 1024 }, () => {
        this.server.off("error", reject);
        resolve(this.address());
      });
    });
  }

  drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      const idle = setInterval(() => this.server.closeIdleConnections(), 50);
      const force = setTimeout(() => this.server.closeAllConnections(), timeoutMs);
      this.server.close(() => {
        clearInterval(idle);
        clearTimeout(force);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }
}

function closeSilent(socket: Socket): void {
  if (socket.bytesRead === 0 && !socket.destroyed) socket.destroy();
}

function serveLater(handler: DownstreamHandler, stream: NodeStream): void {
  const socket = stream.req.socket;
  if (socket.destroyed || (closing.has(socket) && !stream.req.complete)) return;
  handler(stream);
}

/**
 * What node:http's parser lets through and the codec refuses (h1/server.ts): a Host that is not
 * one `host[:port]`, a `#fragment` in the target, Transfer-Encoding on HTTP/1.0 (400) and a
 * coding before `chunked` (501: Lanecar decodes none).
 */
function framingProblem(req: IncomingMessage): [number, string] | undefined {
  if (!validHost(req.rawHeaders)) return [400, "bad host"];
  if (req.url?.includes("#")) return [400, "a request target has no fragment"];
  const te = req.headers["transfer-encoding"];
  if (te !== undefined) {
    if (req.httpVersionMinor === 0) return [400, "Transfer-Encoding on HTTP/1.0"];
    const codings = te.split(",").map((c) => c.trim().toLowerCase());
    if (codings.length > 1) return [501, "transfer coding not supported"];
  }
  return undefined;
}

/** Exactly one Host, a valid authority (no list, no userinfo); node:http checks presence only. */
function validHost(raw: readonly string[]): boolean {
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === "host") {
      if (host !== undefined) return false;
      host = raw[i + 1]!;
    }
  }
  return host === undefined || /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+;=%-]*)(:\d*)?$/.test(host);
}
