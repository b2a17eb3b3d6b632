/**
 * The downstream HTTP/1.1 server every listener uses: node:http with a strict parser (lenient
 * modes never enabled), bounded header size and count (431), and timeouts that close slow
 * clients (slowloris headers, trickled bodies) without touching normal traffic.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ServerLimits {
  /** Max bytes of the request header section (431 above). Default 60 KiB, like Envoy. */
  maxHeaderSize: number;
  /** Max number of request headers (431 above). Default 100, like Envoy. */
  maxHeadersCount: number;
  /** Time to receive the whole header section. Default 10 s. */
  headersTimeoutMs: number;
  /** Time to receive a whole request (headers and body). Default 300 s. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. Default 60 s. */
  keepAliveTimeoutMs: number;
}

export const SERVER_LIMITS: ServerLimits = {
  maxHeaderSize: 60 * 1024,
  maxHeadersCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 60_000,
};

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function createProxyServer(handler: Handler, limits: ServerLimits = SERVER_LIMITS): Server {
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      insecureHTTPParser: false,
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks both timeouts only every connectionsCheckingInterval (30 s by default), which
      // would let a slowloris client hold a connection up to 30 s past its deadline.
      connectionsCheckingInterval: checkingInterval(limits),
      noDelay: true,
      joinDuplicateHeaders: false,
    },
    (req, res) => {
      if (req.rawHeaders.length > limits.maxHeadersCount * 2) {
        res.shouldKeepAlive = false;
        res.writeHead(431, ["content-type", "text/plain", "x-lanecar-flags", "DPE", "connection", "close"]);
        res.end("too many request headers");
        return;
      }
      handler(req, res);
    },
  );
  server.maxHeadersCount = 0; // count is enforced above so excess headers are refused, not dropped
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    // Malformed HTTP: 400 (431 for oversized headers) and close; nothing is forwarded. A request
    // whose head parsed but whose body did not (bad chunk, bad Transfer-Encoding) has a response
    // in flight: the 400 is still owed unless that response already started, in which case only
    // a reset is honest. Closing the socket aborts the in-flight exchange upstream.
    if (closing.has(socket)) return;
    const inflight = (socket as unknown as { _httpMessage?: ServerResponse })._httpMessage;
    const reply = errorReply(err);
    if (inflight && !inflight.headersSent && inflight.req.complete && socket.writable) {
      // The error is in a later pipelined request: the complete one in flight is answered first
      // (with `Connection: close`), then the 400, so no response is misattributed.
      closing.add(socket);
      inflight.shouldKeepAlive = false;
      inflight.once("prefinish", () => {
        if (socket.writable) socket.end(reply);
        else socket.destroy();
      });
      return;
    }
    if (!socket.writable || inflight?.headersSent) {
      socket.destroy();
      return;
    }
    closing.add(socket);
    socket.end(reply);
  });
  return server;
}

/** Connections already answered with an error reply (a dead parser may report more errors). */
const closing = new WeakSet<object>();

/** The reply to a connection whose input did not parse: 400, 431 or 408, then close. */
function errorReply(err: NodeJS.ErrnoException): string {
  const status =
    err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const text =
    status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request";
  return `HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\nx-lanecar-flags: DPE\r\nconnection: close\r\ncontent-length: ${text.length}\r\n\r\n${text}`;
}

/** How often slow connections are looked for: a quarter of the shortest timeout, 50 ms to 1 s. */
export function checkingInterval(limits: ServerLimits): number {
  const shortest = Math.min(limits.headersTimeoutMs || Infinity, limits.requestTimeoutMs || Infinity);
  return Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
}

/** Parses `host:port` (`[::1]:port` allowed). */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`"${addr}" is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`"${addr}": port out of range`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export function listen(server: Server, addr: string): Promise<AddressInfo> {
  const { host, port } = parseListen(addr);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, backlog: 1024 }, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops accepting, lets in-flight requests finish (their responses carry `Connection: close`,
 * idle keep-alive connections are closed), and force-closes what remains after `timeoutMs`.
 */
export function drainServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    server.close(() => {
      clearInterval(idle);
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
