/**
 * A raw TCP upstream that records every byte a proxy sends it and checks, with the strict parser,
 * that the bytes of each connection are a sequence of complete valid requests. What it answers is
 * chosen per request by `behaviour` (answer, reset, die mid-body, hang, stream slowly).
 */
import { createServer, type Server, type Socket } from "node:net";
import { type ParsedRequest, parseRequest } from "./strict-http.js";

export type Behaviour =
  /** 200 with a JSON body describing the request (method, target, headers, body length). */
  | "echo"
  /** Close the connection with a TCP reset as soon as the request head arrives. */
  | "reset"
  /** Send headers promising 1000 bytes, 10 bytes of body, then reset. */
  | "die-mid-body"
  /** Send chunked headers and one chunk, then reset. */
  | "die-mid-chunked"
  /** Like `echo`, after `delayMs`. */
  | "delay"
  /** 200 carrying hop-by-hop headers and headers its `Connection` names (`x-up-secret`). */
  | "hop-response"
  /** Chunked response: headers and one chunk, then another chunk every `slowMs`, never finishing. */
  | "slow-body"
  /** Never answer. */
  | "hang";

export interface RecordingUpstream {
  readonly port: number;
  /** Total bytes received on all connections. */
  bytes: number;
  /** Complete valid requests received, in order. */
  readonly requests: ParsedRequest[];
  /** Parse errors (bytes that are not a valid request), with the offending connection's bytes. */
  readonly errors: { reason: string; data: string }[];
  /** Connections closed with a partial request pending (a streamed body cut by the client). */
  truncated: number;
  connections: number;
  readonly open: Set<Socket>;
  behaviour: Behaviour | ((r: ParsedRequest) => Behaviour);
  slowMs: number;
  delayMs: number;
  reset(): void;
  close(): Promise<void>;
}

export function answer(r: ParsedRequest, n: number): Buffer {
  const body = JSON.stringify({
    n,
    method: r.method,
    target: r.target,
    headers: r.headers,
    bodyLength: r.body.length,
  });
  return Buffer.from(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    "latin1",
  );
}

export async function startRecordingUpstream(
  behaviour: RecordingUpstream["behaviour"] = "echo",
): Promise<RecordingUpstream> {
  const up: RecordingUpstream = {
    port: 0,
    bytes: 0,
    requests: [],
    errors: [],
    truncated: 0,
    connections: 0,
    open: new Set(),
    behaviour,
    slowMs: 200,
    delayMs: 500,
    reset() {
      up.bytes = 0;
      up.requests.length = 0;
      up.errors.length = 0;
      up.truncated = 0;
      up.connections = 0;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of up.open) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer({ noDelay: true }, (socket) => {
    up.connections++;
    up.open.add(socket);
    let buf: Buffer = Buffer.alloc(0);
    let broken = false;
    let timer: NodeJS.Timeout | undefined;
    socket.on("close", () => {
      up.open.delete(socket);
      if (timer) clearInterval(timer);
      if (!broken && buf.length > 0) up.truncated++;
    });
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      up.bytes += chunk.length;
      if (broken) return;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const step = parseRequest(buf);
        if (step.kind === "incomplete") return;
        if (step.kind === "error") {
          broken = true;
          up.errors.push({ reason: step.reason, data: buf.toString("latin1").slice(0, 2000) });
          socket.destroy();
          return;
        }
        buf = buf.subarray(step.used);
        const r = step.request;
        up.requests.push(r);
        const b = typeof up.behaviour === "function" ? up.behaviour(r) : up.behaviour;
        switch (b) {
          case "echo":
            socket.write(answer(r, up.requests.length));
            break;
          case "reset":
            socket.resetAndDestroy();
            return;
          case "die-mid-body":
            socket.write(
              "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n0123456789",
            );
            setTimeout(() => socket.resetAndDestroy(), 20);
            return;
          case "die-mid-chunked":
            socket.write(
              "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n",
            );
            setTimeout(() => socket.resetAndDestroy(), 20);
            return;
          case "hop-response":
            socket.write(
              "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Up-Secret\r\nX-Up-Secret: 1\r\nKeep-Alive: timeout=5\r\n" +
                "Proxy-Authenticate: Basic\r\nTrailer: x-sum\r\nUpgrade: h2c\r\nX-Up-Kept: yes\r\ncontent-length: 2\r\n\r\nok",
            );
            break;
          case "delay": {
            const n = up.requests.length;
            setTimeout(() => socket.writable && socket.write(answer(r, n)), up.delayMs);
            break;
          }
          case "slow-body":
            socket.write(
              "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n",
            );
            timer = setInterval(() => socket.write("1\r\n.\r\n"), up.slowMs);
            return;
          case "hang":
            return;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  (up as { port: number }).port = (server.address() as { port: number }).port;
  return up;
}
