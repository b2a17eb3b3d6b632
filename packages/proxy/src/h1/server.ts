/**
 * Lanecar's downstream HTTP/1.1 server: raw TCP sockets, Node's strict llhttp parser, and one
 * small object per request (`ServerStream`, stream.ts) that is both the request and its response
 * — no Readable/Writable streams, no header objects. What node:http did for the listeners, it does:
 *
 * - keep-alive and pipelining: requests on a connection are answered in order; reading pauses
 *   while a pipelined request waits, so a connection never buffers more than one read ahead;
 * - framing (in stream.ts): the response is sent with its Content-Length, else chunked (HTTP/1.1)
 *   or close-delimited (HTTP/1.0); HEAD, 1xx, 204 and 304 carry no body; `Expect: 100-continue`
 *   is answered `100 Continue` when the request's turn comes;
 * - limits: header section size (431), header count (431), a Host header (exactly one on
 *   HTTP/1.1, else 400), CONNECT refused (405); malformed input is answered 400 (after the
 *   responses already owed on the connection) and the connection closed, with nothing of the
 *   malformed request forwarded;
 * - timeouts, checked by one sweep per server: the header section (408; a connection that never
 *   sends a byte is closed at the same deadline), the whole request (408, or a reset if its
 *   response started), idle keep-alive connections;
 * - a client that half-closes (FIN) still gets the responses to its complete requests; a request
 *   cut short by the FIN is answered 400; a client that goes away aborts its in-flight requests;
 * - framing checks beyond llhttp's (RFC 9112): a version is required (HTTP/0.9 → 400 as soon as
 *   its line is in), Transfer-Encoding only as a lone `chunked` on HTTP/1.1 (else 501, or 400 on
 *   HTTP/1.0), a valid Host, no `#fragment`; trailers are dropped, never carried into the next
 *   request;
 * - drain: responses carry `Connection: close`, idle connections are closed, new ones refused.
 */
import net, { type AddressInfo } from "node:net";
import { BODY, HEAD, ServerConnection } from "./server-connection.js";
import type { ServerStream } from "./stream.js";

export { ServerConnection } from "./server-connection.js";

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

export type Handler = (stream: ServerStream) => void;

/**
 * Decides what an accepted socket becomes before the codec sees it (mutual TLS, identity/
 * mesh-tls.ts): calls `take` with the socket or a TLSSocket over it, or closes it.
 */
export type SocketGate = (socket: net.Socket, take: (s: net.Socket) => void, timeoutMs: number) => void;

/** The listener: accepts connections and sweeps them for deadlines. */
export class H1Server {
  readonly server: net.Server;
  readonly conns = new Set<ServerConnection>();
  draining = false;
  private sweeper: NodeJS.Timeout | undefined;
  /** Set before listening; none (the default) keeps the accept path as it was. */
  gate: SocketGate | undefined;

  constructor(
    readonly handler: Handler,
    readonly limits: ServerLimits = SERVER_LIMITS,
  ) {
    // Half-open allowed so a reply can still go out after the client's FIN (see onEnd).
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      if (this.draining) {
        socket.destroy();
        return;
      }
      if (this.gate) this.gate(socket, this.take, this.limits.headersTimeoutMs || 10_000);
      else this.conns.add(new ServerConnection(this, socket));
    });
  }

  /** A socket the gate passed (it may have waited: the server may be draining by now). */
  private readonly take = (socket: net.Socket): void => {
    if (this.draining) socket.destroy();
    else this.conns.add(new ServerConnection(this, socket));
  };

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
        this.sweeper = setInterval(() => this.sweep(), checkingInterval(this.limits));
        this.sweeper.unref();
        resolve(this.address());
      });
    });
  }

  /** Closes connections past a deadline (see ServerLimits). */
  sweep(now = Date.now()): void {
    const l = this.limits;
    for (const c of this.conns) {
      const age = now - c.since;
      if (c.phase === HEAD) {
        if (l.headersTimeoutMs > 0 && age >= l.headersTimeoutMs) c.timedOut();
      } else if (c.phase === BODY) {
        if (l.requestTimeoutMs > 0 && age >= l.requestTimeoutMs) c.timedOut();
      } else if (c.streams.length === 0) {
        // A connection that has not sent a request yet gets the headers timeout, not keep-alive.
        const limit = c.requests === 0 ? l.headersTimeoutMs : l.keepAliveTimeoutMs;
        if (limit > 0 && age >= limit) c.timedOut();
      }
    }
  }

  /**
   * Stops accepting, lets in-flight requests finish (their responses carry `Connection: close`,
   * idle keep-alive connections are closed), and force-closes what remains after `timeoutMs`.
   */
  drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    return new Promise((resolve) => {
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        clearInterval(idle);
        clearTimeout(force);
        if (this.sweeper) clearInterval(this.sweeper);
        resolve();
      };
      const idle = setInterval(() => {
        for (const c of this.conns) c.closeIfIdle();
        if (this.conns.size === 0 && !this.server.listening) done();
      }, 50);
      const force = setTimeout(() => {
        for (const c of this.conns) c.socket.destroy();
      }, timeoutMs);
      for (const c of this.conns) c.closeIfIdle();
      if (this.server.listening) this.server.close(done);
      else done();
    });
  }
}

/** How often deadlines are checked: a quarter of the shortest timeout, 50 ms to 1 s. */
export function checkingInterval(limits: ServerLimits): number {
  const shortest = Math.min(limits.headersTimeoutMs || Infinity, limits.requestTimeoutMs || Infinity);
  return Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
}
