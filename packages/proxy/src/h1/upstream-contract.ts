/**
 * The contract of Lanecar's upstream HTTP/1.1 client (client.ts): the request a pool is handed,
 * the handler that hears its outcome, pool options, error codes and the timing constants both
 * the pool and its connections (upstream-connection.ts) follow.
 */
import type net from "node:net";
import type { DownstreamStream } from "../http/downstream.js";
import { SERVER_LIMITS } from "./server.js";

export const CONNECT_TIMEOUT = "LANECAR_CONNECT_TIMEOUT";
export const HEADERS_TIMEOUT = "LANECAR_HEADERS_TIMEOUT";
export const BODY_TIMEOUT = "LANECAR_BODY_TIMEOUT";
export const ABORTED = "LANECAR_ABORTED";
export const CLOSED = "LANECAR_POOL_CLOSED";
export const PROTOCOL = "LANECAR_UPSTREAM_PROTOCOL";
/** A TLS connection to the upstream failed before the handshake completed (a connect failure). */
export const TLS_HANDSHAKE = "LANECAR_TLS_HANDSHAKE";
/** The upstream closed the connection before the response was complete. */
export const RESET = "ECONNRESET";

export class UpstreamError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ResponseHandler {
  onConnect(abort: (err?: Error) => void): void;
  /** Status ≥ 200; `headers` flat name/value strings as received. False pauses the upstream. */
  onHeaders(status: number, headers: string[], resume: () => void, statusText: string): boolean;
  /** False pauses the upstream until `resume` (given to onHeaders) is called. */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error & { code?: string }): void;
}

export interface UpstreamRequest {
  method: string;
  /** Origin-form target (`/path?query`). */
  path: string;
  /** Flat name/value list, Host included, without hop-by-hop headers. */
  headers: readonly string[];
  /** The downstream request whose body is forwarded, or null for none. */
  body: DownstreamStream | null;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

export interface PoolOptions {
  connections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Close a connection after this many requests (0 = no limit). */
  maxRequestsPerConnection: number;
  maxHeaderSize: number;
  /** Resolves the host of a new connection (ServiceEntry DNS names); default `dns.lookup`. */
  lookup?: net.LookupFunction;
  /** Connect with TLS (mutual TLS between sidecars); none = plaintext. */
  tls?: UpstreamTls;
}

/** What a pool's connections need for TLS; read at each connect, so a rotation applies to new ones. */
export interface UpstreamTls {
  /** Throws (one line) when the certificates cannot be had: the connection then fails as a TLS failure. */
  context(): import("node:tls").SecureContext;
  /** SNI; none when absent. */
  servername?: string;
  /** false: the chain is not verified (DestinationRule `insecureSkipVerify`); default true. */
  rejectUnauthorized?: boolean;
  /** Replaces the default host name check (a SPIFFE ID check); an Error rejects the peer. */
  checkPeer(host: string, cert: import("node:tls").PeerCertificate): Error | undefined;
  /** A TLS session to resume, if one was kept. */
  session(): Buffer | undefined;
  saveSession(session: Buffer): void;
}

export const UNSAFE = /[\0\r\n]/;
/** Timeouts at least this long are checked by the sweep (±SWEEP_MS); shorter ones get a timer. */
export const SWEPT_TIMEOUT_MS = 30_000;
export const SWEEP_MS = 500;
/**
 * Upper bound of an idle upstream connection's life: below Lanecar's inbound keep-alive timeout
 * by more than both sweeps' granularity (this one, ±SWEEP_MS; the server's, up to 1 s), so a
 * Lanecar upstream always closes an idle connection before a Lanecar listener would.
 */
export const MAX_IDLE_MS = SERVER_LIMITS.keepAliveTimeoutMs - 5_000;

/** RFC 9110 §9.2.2: a request with these methods can be sent again. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
