/**
 * UpstreamPool connection reuse (issue 11, items 1, 8 and 13): response trailers stay with their
 * response, a request lost on a reused connection before any response byte is sent once more on
 * a new one when that is safe, and idle connections close before a Lanecar listener would.
 */
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  MAX_IDLE_MS,
  type PoolOptions,
  RESET,
  type ResponseHandler,
  SWEEP_MS,
  UpstreamPool,
  type UpstreamRequest,
} from "../../src/h1/client.js";
import { checkingInterval, SERVER_LIMITS } from "../../src/h1/server.js";
import type { ServerStream } from "../../src/h1/stream.js";
import { cleanup, onCleanup, RawClient, rawUpstream, sleep, startH1, waitFor } from "./helpers.js";

afterEach(cleanup);

const OPTS: PoolOptions = {
  connections: 4,
  connectTimeoutMs: 1000,
  idleTimeoutMs: 10_000,
  maxRequestsPerConnection: 0,
  maxHeaderSize: 16 * 1024,
};

function newPool(port: number, opts: Partial<PoolOptions> = {}): UpstreamPool {
  const pool = new UpstreamPool("127.0.0.1", port, { ...OPTS, ...opts });
  onCleanup(() => pool.destroy());
  return pool;
}

function req(method: string, path: string, body: ServerStream | null = null): UpstreamRequest {
  return { method, path, headers: ["host", "up"], body, headersTimeoutMs: 3000, bodyTimeoutMs: 3000 };
}

class Rec implements ResponseHandler {
  status = 0;
  headers: string[] = [];
  body = "";
  error: (Error & { code?: string }) | undefined;
  calls: string[] = [];
  onDone: (() => void) | undefined;
  private settle!: () => void;
  readonly settled = new Promise<void>((r) => {
    this.settle = r;
  });
  onConnect(): void {
    this.calls.push("connect");
  }
  onHeaders(status: number, headers: string[]): boolean {
    this.calls.push("headers");
    this.status = status;
    this.headers = headers;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.body += chunk.toString("latin1");
    return true;
  }
  onComplete(): void {
    this.calls.push("complete");
    this.onDone?.();
    this.settle();
  }
  onError(err: Error & { code?: string }): void {
    this.calls.push("error");
    this.error = err;
    this.settle();
  }
}

async function run(pool: UpstreamPool, r: UpstreamRequest, rec = new Rec()): Promise<Rec> {
  pool.dispatch(r, rec);
  await Promise.race([rec.settled, sleep(3000).then(() => Promise.reject(new Error("no terminal call")))]);
  return rec;
}

const OK = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

describe("UpstreamPool response trailers", () => {
  it("drops a response's trailers and never hands them to the next response on the connection", async () => {
    const up = await rawUpstream((head, socket) => {
      if (head.startsWith("GET /first"))
        socket.write(
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nset-cookie: session=victim\r\nserver-timing: db;dur=1\r\n\r\n",
        );
      else socket.write("HTTP/1.1 200 OK\r\nx-own: 1\r\ncontent-length: 2\r\n\r\nok");
    });
    const pool = newPool(up.port);
    const a = await run(pool, req("GET", "/first"));
    expect([a.status, a.body, a.headers]).toEqual([200, "hi", ["transfer-encoding", "chunked"]]);
    for (const path of ["/second", "/third"]) {
      const b = await run(pool, req("GET", path));
      expect([b.status, b.body, b.headers]).toEqual([200, "ok", ["x-own", "1", "content-length", "2"]]);
    }
    expect(up.sockets.length).toBe(1);
  });
});

describe("UpstreamPool requests lost on a reused connection", () => {
  /** Answers a request unless its path starts with /drop and it is not a connection's first. */
  async function droppingUpstream(): Promise<Awaited<ReturnType<typeof rawUpstream>>> {
    const served = new Map<Socket, number>();
    return rawUpstream((head, socket) => {
      const n = (served.get(socket) ?? 0) + 1;
      served.set(socket, n);
      if (head.includes(" /drop") && n > 1) socket.destroy();
      else socket.write(OK);
    });
  }

  it("sends a GET lost before any response byte once more, on a new connection", async () => {
    const up = await droppingUpstream();
    const pool = newPool(up.port);
    expect((await run(pool, req("GET", "/warm"))).status).toBe(200);
    const r = await run(pool, req("GET", "/drop"));
    expect(r.calls).toEqual(["connect", "headers", "complete"]);
    expect(up.sockets.length).toBe(2);
    expect(up.heads.map((h) => `${h.socket} ${h.head.split(" ")[1]}`)).toEqual([
      "0 /warm",
      "0 /drop",
      "1 /drop",
    ]);
  });

  it("sends it once more only: a second loss is reported", async () => {
    const up = await rawUpstream((head, socket) => {
      if (head.includes(" /drop")) socket.destroy();
      else socket.write(OK);
    });
    const pool = newPool(up.port);
    await run(pool, req("GET", "/warm"));
    const r = await run(pool, req("GET", "/drop"));
    expect(r.error?.code).toBe(RESET);
    expect(up.heads.filter((h) => h.head.includes("/drop")).length).toBe(2);
  });

  it("does not send a POST again (not idempotent)", async () => {
    const up = await droppingUpstream();
    const pool = newPool(up.port);
    await run(pool, req("GET", "/warm"));
    const r = await run(pool, req("POST", "/drop"));
    expect(r.error?.code).toBe(RESET);
    expect(up.heads.filter((h) => h.head.includes("/drop")).length).toBe(1);
  });

  it("does not send a request again when part of its body was read", async () => {
    const up = await droppingUpstream();
    const pool = newPool(up.port);
    await run(pool, req("GET", "/warm"));
    let result: Promise<Rec> | undefined;
    const { port } = await startH1((s) => {
      result = run(pool, req("PUT", "/drop", s));
    });
    const c = await RawClient.connect(port);
    await c.send("PUT /drop HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody");
    await waitFor(() => result !== undefined, "the request");
    const r = await result!;
    expect(r.error?.code).toBe(RESET);
    expect(up.heads.filter((h) => h.head.includes("/drop")).length).toBe(1);
  });

  it("does not send again a request lost on a new connection", async () => {
    const up = await rawUpstream((_head, socket) => socket.destroy());
    const pool = newPool(up.port);
    const r = await run(pool, req("GET", "/x"));
    expect(r.error?.code).toBe(RESET);
    expect(up.sockets.length).toBe(1);
  });

  it("does not send again a request that got part of a response", async () => {
    const served = new Map<Socket, number>();
    const up = await rawUpstream((_head, socket) => {
      const n = (served.get(socket) ?? 0) + 1;
      served.set(socket, n);
      if (n === 1) socket.write(OK);
      else {
        socket.write("HTTP/1.1 200 OK\r\ncontent-le");
        setTimeout(() => socket.destroy(), 20);
      }
    });
    const pool = newPool(up.port);
    await run(pool, req("GET", "/warm"));
    const r = await run(pool, req("GET", "/partial"));
    expect(r.error).toBeDefined();
    expect(up.sockets.length).toBe(1);
  });

  it("a GET assigned as the upstream closes the idle connection (response then FIN) is answered", async () => {
    const up = await rawUpstream((_head, socket) => {
      // Answers, then closes right away: the FIN follows the response without Connection: close.
      socket.end(OK);
    });
    const pool = newPool(up.port);
    const first = new Rec();
    let second: Promise<Rec> | undefined;
    // The next request is handed to the pool the moment the first completes: the connection
    // is idle and reusable as far as the pool can know, and its FIN is already on the way.
    first.onDone = () => {
      second = run(pool, req("GET", "/next"));
    };
    await run(pool, req("GET", "/close"), first);
    await waitFor(() => second !== undefined, "the second request");
    const r = await second!;
    expect([r.status, r.body, r.error]).toEqual([200, "ok", undefined]);
  });

  it("never hands a request to an idle connection the upstream already ended", async () => {
    const up = await rawUpstream((_head, socket) => socket.end(OK));
    const pool = newPool(up.port);
    await run(pool, req("GET", "/a"));
    await sleep(50);
    // A POST is never sent twice: it must go to a fresh connection at once.
    const r = await run(pool, req("POST", "/b"));
    expect([r.status, r.error]).toEqual([200, undefined]);
  });
});

describe("UpstreamPool idle timeout versus Lanecar's keep-alive", () => {
  it("closes idle upstream connections before a Lanecar listener closes idle ones", () => {
    // The pool's idle deadline plus its sweep delay stays below the listener's keep-alive
    // deadline (checked no earlier than keepAliveTimeoutMs): sidecar-to-sidecar pools never race.
    const serverSweepMax = checkingInterval(SERVER_LIMITS);
    expect(MAX_IDLE_MS + SWEEP_MS + serverSweepMax).toBeLessThan(SERVER_LIMITS.keepAliveTimeoutMs);
    const pool = newPool(1, { idleTimeoutMs: 10 * 60_000 });
    expect(pool.idleMs).toBe(MAX_IDLE_MS);
    expect(newPool(1, { idleTimeoutMs: 4000 }).idleMs).toBe(4000);
  });
});
