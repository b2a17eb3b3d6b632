/**
 * What the listeners and the exchange see of one downstream request and its response, whichever
 * data path serves it: Lanecar's own HTTP/1.1 codec (h1/stream.ts `ServerStream`) or the
 * public-API fallback (fallback/node-stream.ts, node:http).
 */
import type { Socket } from "node:net";

/** Receives the request body of a stream, in order; `data` returning false pauses the client. */
export interface BodySink {
  data(chunk: Buffer): boolean;
  end(): void;
}

export interface DownstreamStream {
  // ---- request ----
  readonly method: string;
  /** The request target as received (origin-form or absolute-form). */
  readonly url: string;
  /** Flat name/value list as received. */
  readonly rawHeaders: string[];
  readonly httpMinor: number;
  /** Request body bytes go upstream: Content-Length > 0 or Transfer-Encoding. */
  readonly hasBody: boolean;
  /** The request message was received completely. */
  readonly requestComplete: boolean;
  /** A chunk of the body was handed to a sink: the request can no longer be replayed. */
  readonly bodyTouched: boolean;
  /** Request body bytes received so far (`istio_request_bytes`). */
  readonly bodyBytesIn: number;
  /** Response body bytes written so far (`istio_response_bytes`). */
  readonly bodyBytesOut: number;
  readonly remoteAddress: string | undefined;
  readonly localPort: number | undefined;
  /** The connection (a TLSSocket when a mutual-TLS gate terminated TLS): per-connection facts key on it. */
  readonly socket: Socket;
  /** Starts delivering the body to `sink` (buffered chunks first). */
  readBody(sink: BodySink): void;
  /** The sink can take more (after `data` returned false). */
  resumeBody(): void;
  /** Stops delivering the body (the upstream attempt ended). */
  detachBody(): void;

  // ---- response ----
  readonly headersSent: boolean;
  /** The response was ended (all of it handed to the socket). */
  readonly finished: boolean;
  /** The connection went away (or the request broke) before the response ended. */
  readonly aborted: boolean;
  /** False: the response says `Connection: close` and the connection closes after it. */
  keepAlive: boolean;
  /** Called once if the client goes away before the response ends. */
  onAbort: (() => void) | undefined;
  /** Sends the status line and headers (`headers` is a flat name/value list without framing). */
  writeHead(status: number, reason: string | undefined, headers: readonly string[]): void;
  /** Writes body bytes; false = the client is slow, wait for `onDrain`. */
  write(chunk: Buffer | string): boolean;
  /** Ends the response (with a last chunk of body, if given). */
  end(chunk?: Buffer | string): void;
  /** Calls `fn` once when the client has drained what was written. */
  onDrain(fn: () => void): void;
  /** Resets the client connection: a response cut short must never look complete. */
  destroy(): void;
}

/** Serves one downstream request (each listener's entry point). */
export type DownstreamHandler = (stream: DownstreamStream) => void;

/** A listening server of either data path, as the process drives it. */
export interface ListenerServer {
  readonly listening: boolean;
  /** True once `drain` was called: responses say `Connection: close`. */
  readonly draining: boolean;
  listen(host: string, port: number): Promise<import("node:net").AddressInfo>;
  /**
   * Stops accepting, lets in-flight requests finish (their responses carry `Connection: close`,
   * idle keep-alive connections are closed), and force-closes what remains after `timeoutMs`.
   */
  drain(timeoutMs: number): Promise<void>;
}
