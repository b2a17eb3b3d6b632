/** Real-socket fixtures for the HTTP/1.1 codec tests: raw clients, raw and node:http upstreams. */
import { createServer as createHttpServer, type RequestListener, type Server } from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import { H1Server, type Handler, SERVER_LIMITS, type ServerLimits } from "../../src/h1/server.js";

const cleanups: (() => Promise<void> | void)[] = [];

/** Runs (in reverse order) everything the fixtures registered; call from afterEach. */
export async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

/** Registers extra cleanup work. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` until true, failing after `ms` with `what` in the message. */
export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** An H1Server on 127.0.0.1 with `limits` over the defaults; drained after the test. */
export async function startH1(
  handler: Handler,
  limits: Partial<ServerLimits> = {},
): Promise<{ server: H1Server; port: number }> {
  const server = new H1Server(handler, { ...SERVER_LIMITS, ...limits });
  const { port } = await server.listen("127.0.0.1", 0);
  cleanups.push(() => server.drain(100));
  return { server, port };
}

/** A TCP client that records every byte it receives (latin1) and when the connection closes. */
export class RawClient {
  private chunks: Buffer[] = [];
  closed = false;
  ended = false;
  error: (Error & { code?: string }) | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", (e) => {
      this.error = e;
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port, noDelay: true });
      const c = new RawClient(s);
      cleanups.push(() => {
        s.destroy();
      });
      s.once("connect", () => resolve(c));
      s.once("error", reject);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  get bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get text(): string {
    return this.bytes.toString("latin1");
  }

  /** Forgets what was received so far (to compare the next response alone). */
  clear(): void {
    this.chunks = [];
  }

  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  /** Waits until `cond(text)` holds; fails after `ms` showing what was received. */
  until(cond: (text: string) => boolean, what: string, ms = 3000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok: boolean;
        try {
          ok = cond(this.text);
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (ok) {
          done();
          resolve(this.text);
        } else if (this.closed) {
          done();
          reject(new Error(`connection closed before ${what}; received ${JSON.stringify(this.text)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.text)}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits until exactly `expected` was received (fails as soon as it cannot match). */
  expectText(expected: string, ms = 3000): Promise<string> {
    return this.until(
      (t) => {
        if (!expected.startsWith(t.slice(0, expected.length))) {
          throw new Error(`expected ${JSON.stringify(expected)}, received ${JSON.stringify(t)}`);
        }
        return t.length >= expected.length;
      },
      JSON.stringify(expected),
      ms,
    ).then((t) => {
      expect_(t === expected, `expected ${JSON.stringify(expected)}, received ${JSON.stringify(t)}`);
      return t;
    });
  }

  /** Waits for the connection to close (either side). */
  whenClosed(ms = 3000): Promise<void> {
    return this.until(() => this.closed, "close", ms).then(() => undefined);
  }
}

function expect_(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

/** Decodes a complete chunked body (`0\r\n\r\n` included); throws on anything malformed. */
export function decodeChunked(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", i, "latin1");
    if (eol < 0) throw new Error("chunk size line not terminated");
    const size = Number.parseInt(body.toString("latin1", i, eol), 16);
    if (!Number.isFinite(size)) throw new Error("bad chunk size");
    i = eol + 2;
    if (size === 0) {
      if (body.toString("latin1", i) !== "\r\n") throw new Error("bad last chunk");
      return Buffer.concat(out);
    }
    out.push(body.subarray(i, i + size));
    i += size;
    if (body.toString("latin1", i, i + 2) !== "\r\n") throw new Error("chunk not terminated");
    i += 2;
  }
}

/** A port nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface HttpUpstream {
  server: Server;
  port: number;
  /** Sockets the upstream accepted, in order. */
  sockets: Socket[];
}

/** A node:http upstream on 127.0.0.1 (closed after the test). */
export async function httpUpstream(listener: RequestListener): Promise<HttpUpstream> {
  const server = createHttpServer(listener);
  const sockets: Socket[] = [];
  server.on("connection", (s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

export interface RawUpstream {
  port: number;
  /** Sockets accepted, in order. */
  sockets: Socket[];
  /** Request heads received (up to and including the blank line), in order, per socket index. */
  heads: { socket: number; head: string }[];
  /** Bytes received per socket. */
  received: string[];
  /** Sockets whose peer (the client) ended or closed them. */
  peerClosed: Set<number>;
}

/**
 * A raw TCP upstream: each bodiless request head received is handed to `respond` with its socket,
 * which writes whatever bytes it likes (or nothing).
 */
export async function rawUpstream(
  respond: (head: string, socket: Socket, index: number) => void,
): Promise<RawUpstream> {
  const up: RawUpstream = { port: 0, sockets: [], heads: [], received: [], peerClosed: new Set() };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const index = up.sockets.length;
    up.sockets.push(socket);
    up.received.push("");
    let pending = "";
    socket.on("data", (d: Buffer) => {
      const s = d.toString("latin1");
      up.received[index] += s;
      pending += s;
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const head = pending.slice(0, end + 4);
        pending = pending.slice(end + 4);
        up.heads.push({ socket: index, head });
        respond(head, socket, index);
      }
    });
    socket.on("end", () => up.peerClosed.add(index));
    socket.on("close", () => up.peerClosed.add(index));
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  up.port = (server.address() as AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of up.sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return up;
}
