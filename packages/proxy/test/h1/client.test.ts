/**
 * UpstreamPool conformance against real sockets: node:http upstreams for well-behaved exchanges,
 * raw `net` upstreams for exact bytes and misbehaviour.
 */
import { createHash } from "node:crypto";
import { request as httpRequest, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import {
  ABORTED,
  BODY_TIMEOUT,
  CLOSED,
  HEADERS_TIMEOUT,
  type PoolOptions,
  PROTOCOL,
  type ResponseHandler,
  UpstreamPool,
  type UpstreamRequest,
} from "../../src/h1/client.js";
import type { ServerStream } from "../../src/h1/stream.js";
import {
  cleanup,
  closedPort,
  httpUpstream,
  onCleanup,
  rawUpstream,
  sleep,
  startH1,
  waitFor,
} from "./helpers.js";

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

function get(path: string, extra: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return {
    method: "GET",
    path,
    headers: ["host", "upstream"],
    body: null,
    headersTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
    ...extra,
  };
}

type Err = Error & { code?: string };

/** Records every call a pool makes on a handler; `done()` waits for the terminal one. */
class Recorder implements ResponseHandler {
  /** connect, headers, data (consecutive chunks once), complete, error. */
  events: string[] = [];
  status = 0;
  statusText = "";
  headers: string[] = [];
  chunks: Buffer[] = [];
  error: Err | undefined;
  abort: (err?: Error) => void = () => {};
  resume: () => void = () => {};
  headersResult = true;
  dataResult: (chunk: Buffer) => boolean = () => true;
  connectHook: ((abort: (err?: Error) => void) => void) | undefined;
  private settle!: () => void;
  private readonly settled = new Promise<void>((r) => {
    this.settle = r;
  });

  onConnect(abort: (err?: Error) => void): void {
    this.events.push("connect");
    this.abort = abort;
    this.connectHook?.(abort);
  }
  onHeaders(status: number, headers: string[], resume: () => void, statusText: string): boolean {
    this.events.push("headers");
    this.status = status;
    this.headers = headers;
    this.resume = resume;
    this.statusText = statusText;
    return this.headersResult;
  }
  onData(chunk: Buffer): boolean {
    if (this.events[this.events.length - 1] !== "data") this.events.push("data");
    this.chunks.push(Buffer.from(chunk));
    return this.dataResult(chunk);
  }
  onComplete(): void {
    this.events.push("complete");
    this.settle();
  }
  onError(err: Err): void {
    this.events.push("error");
    this.error = err;
    this.settle();
  }

  get body(): string {
    return Buffer.concat(this.chunks).toString("latin1");
  }
  get finished(): boolean {
    return this.events.includes("complete") || this.events.includes("error");
  }

  /** Waits for onComplete/onError; fails after `ms` listing what happened. */
  async done(ms = 3000): Promise<this> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no terminal call within ${ms} ms; events ${this.events.join(",")}`)),
        ms,
      );
    });
    try {
      await Promise.race([this.settled, timeout]);
    } finally {
      clearTimeout(timer);
    }
    await sleep(5); // a second terminal call would show up here
    return this;
  }
}

function run(pool: UpstreamPool, req: UpstreamRequest, rec = new Recorder(), ms?: number): Promise<Recorder> {
  pool.dispatch(req, rec);
  return rec.done(ms);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("UpstreamPool exchanges", () => {
  it("sends the exact request bytes and hands back status, reason, headers and body", async () => {
    const up = await rawUpstream((_head, socket) =>
      socket.write(
        "HTTP/1.1 201 Made It\r\nx-a: 1\r\nX-Multi: a\r\nX-Multi: b\r\ncontent-length: 5\r\n\r\nhello",
      ),
    );
    const pool = newPool(up.port);
    const rec = await run(pool, get("/path?q=1", { headers: ["host", "upstream", "X-Req", "v 1"] }));
    expect(up.received[0]).toBe("GET /path?q=1 HTTP/1.1\r\nhost: upstream\r\nX-Req: v 1\r\n\r\n");
    expect(rec.events).toEqual(["connect", "headers", "data", "complete"]);
    expect(rec.status).toBe(201);
    expect(rec.statusText).toBe("Made It");
    expect(rec.headers).toEqual(["x-a", "1", "X-Multi", "a", "X-Multi", "b", "content-length", "5"]);
    expect(rec.body).toBe("hello");
  });

  it("does a GET round trip with a node:http upstream, headers as flat strings", async () => {
    let seen: { method?: string; url?: string; headers: string[] } | undefined;
    const up = await httpUpstream((req, res) => {
      seen = { method: req.method, url: req.url, headers: req.rawHeaders };
      res.writeHead(200, ["x-up", "1", "content-type", "text/plain"]);
      res.end("hello world");
    });
    const pool = newPool(up.port);
    const rec = await run(pool, get("/x", { headers: ["host", "svc.local", "x-lane", "blue"] }));
    expect(seen).toEqual({ method: "GET", url: "/x", headers: ["host", "svc.local", "x-lane", "blue"] });
    expect(rec.status).toBe(200);
    expect(rec.statusText).toBe("OK");
    expect(rec.headers.every((h) => typeof h === "string")).toBe(true);
    expect(rec.headers.slice(0, 4)).toEqual(["x-up", "1", "content-type", "text/plain"]);
    expect(rec.body).toBe("hello world");
    expect(rec.events).toEqual(["connect", "headers", "data", "complete"]);
  });

  it("reuses one kept-alive connection for sequential requests", async () => {
    const up = await httpUpstream((req, res) => res.end(`${req.url} on ${up.sockets.indexOf(req.socket)}`));
    const pool = newPool(up.port);
    const bodies: string[] = [];
    for (const p of ["/1", "/2", "/3"]) bodies.push((await run(pool, get(p))).body);
    expect(bodies).toEqual(["/1 on 0", "/2 on 0", "/3 on 0"]);
    expect(up.sockets.length).toBe(1);
    expect(pool.stats).toEqual({ connected: 1, free: 1, pending: 0, queued: 0, running: 0 });
  });

  it("opens at most `connections` connections and queues the rest until one is free", async () => {
    const held: [string, ServerResponse][] = [];
    let holding = true;
    const up = await httpUpstream((req, res) => {
      if (holding) held.push([req.url!, res]);
      else res.end(req.url);
    });
    const pool = newPool(up.port, { connections: 2 });
    const recs = [0, 1, 2, 3, 4].map((i) => {
      const r = new Recorder();
      pool.dispatch(get(`/${i}`), r);
      return r;
    });
    expect(pool.queued).toBe(3);
    expect(pool.stats).toMatchObject({ connected: 2, running: 2, queued: 3 });
    await waitFor(() => held.length === 2, "two requests upstream");
    await sleep(50);
    expect(held.map(([u]) => u).sort()).toEqual(["/0", "/1"]);
    holding = false;
    for (const [url, res] of held) res.end(url);
    await Promise.all(recs.map((r) => r.done()));
    expect(recs.map((r) => r.body)).toEqual(["/0", "/1", "/2", "/3", "/4"]);
    expect(up.sockets.length).toBe(2);
    expect(pool.stats).toEqual({ connected: 2, free: 2, pending: 0, queued: 0, running: 0 });
  });

  it("closes the connection after a response that says Connection: close", async () => {
    const up = await httpUpstream((req, res) => {
      res.setHeader("connection", "close");
      res.end(req.url);
    });
    const pool = newPool(up.port);
    expect((await run(pool, get("/1"))).body).toBe("/1");
    await waitFor(() => pool.stats.connected === 0, "the connection to close");
    expect((await run(pool, get("/2"))).body).toBe("/2");
    expect(up.sockets.length).toBe(2);
  });

  it("reads no body for a HEAD response with Content-Length and reuses the connection", async () => {
    const up = await rawUpstream((head, socket) => {
      if (head.startsWith("HEAD")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
      else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext");
    });
    const pool = newPool(up.port);
    const head = await run(pool, get("/", { method: "HEAD" }));
    expect(head.events).toEqual(["connect", "headers", "complete"]);
    expect(head.headers).toEqual(["content-length", "10"]);
    const next = await run(pool, get("/next"));
    expect(next.body).toBe("next");
    expect(up.sockets.length).toBe(1);
  });

  it("ignores 103 Early Hints from a node:http upstream before the final response", async () => {
    const up = await httpUpstream((_req, res) => {
      res.writeEarlyHints({ link: "</style.css>; rel=preload" });
      setTimeout(() => {
        res.writeHead(200, ["x-final", "1"]);
        res.end("final");
      }, 20);
    });
    const pool = newPool(up.port);
    const rec = await run(pool, get("/"));
    expect(rec.events).toEqual(["connect", "headers", "data", "complete"]);
    expect(rec.status).toBe(200);
    expect(rec.headers.slice(0, 2)).toEqual(["x-final", "1"]);
    expect(rec.headers.map((h) => h.toLowerCase())).not.toContain("link");
    expect(rec.body).toBe("final");
  });

  it("ignores 100, 102 and 103 interim responses and keeps the connection usable", async () => {
    const up = await rawUpstream((_head, socket) =>
      socket.write(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n" +
          "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal",
      ),
    );
    const pool = newPool(up.port);
    const rec = await run(pool, get("/"));
    expect(rec.events).toEqual(["connect", "headers", "data", "complete"]);
    expect([rec.status, rec.headers, rec.body]).toEqual([200, ["content-length", "5"], "final"]);
    expect((await run(pool, get("/again"))).body).toBe("final");
    expect(up.sockets.length).toBe(1);
  });

  it("completes a read-until-close body when the upstream closes, and does not reuse it", async () => {
    const up = await rawUpstream((_head, socket, index) => {
      if (index === 0) {
        socket.write("HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nhello ");
        setTimeout(() => socket.end("world"), 20);
      } else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nnew");
    });
    const pool = newPool(up.port);
    const rec = await run(pool, get("/"));
    expect(rec.events).toEqual(["connect", "headers", "data", "complete"]);
    expect(rec.body).toBe("hello world");
    await waitFor(() => pool.stats.connected === 0, "the connection to be dropped");
    expect((await run(pool, get("/"))).body).toBe("new");
    expect(up.sockets.length).toBe(2);
  });
});

describe("UpstreamPool request bodies from a ServerStream", () => {
  const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "expect", "upgrade"]);

  function strip(flat: readonly string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      if (!HOP.has(flat[i]!.toLowerCase())) out.push(flat[i]!, flat[i + 1]!);
    }
    return out;
  }

  /** An H1Server forwarding every request through `pool`, body streamed (as the Exchange does). */
  async function front(pool: UpstreamPool, errors: Err[]): Promise<number> {
    const { port } = await startH1((s: ServerStream) => {
      let resume = () => {};
      pool.dispatch(
        {
          method: s.method,
          path: s.url,
          headers: strip(s.rawHeaders),
          body: s.hasBody ? s : null,
          headersTimeoutMs: 5000,
          bodyTimeoutMs: 5000,
        },
        {
          onConnect() {},
          onHeaders(status, headers, r, text) {
            resume = r;
            s.writeHead(status, text, strip(headers));
            return true;
          },
          onData(chunk) {
            const ok = s.write(chunk);
            if (!ok) s.onDrain(resume);
            return ok;
          },
          onComplete() {
            s.end();
          },
          onError(err) {
            errors.push(err);
            if (s.headersSent) s.destroy();
            else {
              s.writeHead(502, undefined, ["content-length", String(err.code?.length ?? 0)]);
              s.end(err.code ?? "");
            }
          },
        },
      );
    });
    return port;
  }

  /** An upstream answering what framing and body it received. */
  async function digestUpstream() {
    return httpUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const b = Buffer.concat(chunks);
        res.end(
          JSON.stringify({
            te: req.headers["transfer-encoding"] ?? null,
            cl: req.headers["content-length"] ?? null,
            length: b.length,
            sha: sha(b),
          }),
        );
      });
    });
  }

  function post(
    port: number,
    parts: Buffer[],
    headers: Record<string, string>,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port, method: "POST", path: "/upload", headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      void (async () => {
        for (const p of parts) {
          if (!req.write(p)) await new Promise((r) => req.once("drain", r));
          await sleep(1);
        }
        req.end();
      })();
    });
  }

  function body(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 17 + (i >> 8)) & 0xff;
    return b;
  }

  function split(b: Buffer, size: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
    return out;
  }

  it("streams a Content-Length body with its Content-Length", async () => {
    const up = await digestUpstream();
    const pool = newPool(up.port);
    const errors: Err[] = [];
    const port = await front(pool, errors);
    const b = Buffer.from("hello world");
    const r = await post(port, split(b, 5), { "content-length": String(b.length) });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ te: null, cl: "11", length: 11, sha: sha(b) });
    expect(errors).toEqual([]);
  });

  it("streams a body of unknown length as chunked", async () => {
    const up = await digestUpstream();
    const pool = newPool(up.port);
    const errors: Err[] = [];
    const port = await front(pool, errors);
    const b = Buffer.from("hello chunked world");
    const r = await post(port, split(b, 6), { "transfer-encoding": "chunked" });
    expect(JSON.parse(r.body)).toEqual({ te: "chunked", cl: null, length: b.length, sha: sha(b) });
    expect(errors).toEqual([]);
  });

  it("streams 1 MiB bodies intact, with Content-Length and chunked, on one kept-alive connection", async () => {
    const up = await digestUpstream();
    const pool = newPool(up.port, { connections: 1 });
    const errors: Err[] = [];
    const port = await front(pool, errors);
    const b = body(1 << 20);
    const r1 = await post(port, split(b, 100_000), { "content-length": String(b.length) });
    expect(JSON.parse(r1.body)).toEqual({ te: null, cl: String(b.length), length: b.length, sha: sha(b) });
    const r2 = await post(port, split(b, 100_000), { "transfer-encoding": "chunked" });
    expect(JSON.parse(r2.body)).toEqual({ te: "chunked", cl: null, length: b.length, sha: sha(b) });
    expect(errors).toEqual([]);
    expect(up.sockets.length).toBe(1);
  });
});

describe("UpstreamPool failures", () => {
  it("reports ECONNREFUSED when the connection is refused", async () => {
    const pool = newPool(await closedPort());
    const rec = await run(pool, get("/"));
    expect(rec.events).toEqual(["connect", "error"]);
    expect(rec.error?.code).toBe("ECONNREFUSED");
    expect(pool.stats).toMatchObject({ connected: 0, running: 0 });
  });

  it("reports ECONNRESET when the upstream closes before answering", async () => {
    const up = await rawUpstream((_head, socket) => socket.end());
    const pool = newPool(up.port);
    const rec = await run(pool, get("/"));
    expect(rec.events).toEqual(["connect", "error"]);
    expect(rec.error?.code).toBe("ECONNRESET");
  });

  for (const [framing, partial] of [
    ["Content-Length", "content-length: 100\r\n\r\nabc"],
    ["chunked", "transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"],
  ] as const) {
    it(`reports an error after onHeaders when the upstream closes mid-body (${framing})`, async () => {
      const up = await rawUpstream((_head, socket) => {
        socket.write(`HTTP/1.1 200 OK\r\n${partial}`);
        setTimeout(() => socket.end(), 20);
      });
      const pool = newPool(up.port);
      const rec = await run(pool, get("/"));
      expect(rec.events).toEqual(["connect", "headers", "data", "error"]);
      expect(rec.body).toBe("abc");
      expect(["ECONNRESET", PROTOCOL]).toContain(rec.error?.code);
      await waitFor(() => pool.stats.connected === 0, "the connection to be dropped");
    });
  }

  it("reports LANECAR_HEADERS_TIMEOUT when the response headers are late, and drops the connection", async () => {
    const up = await rawUpstream(() => {});
    const pool = newPool(up.port);
    const rec = await run(pool, get("/", { headersTimeoutMs: 200 }));
    expect(rec.events).toEqual(["connect", "error"]);
    expect(rec.error?.code).toBe(HEADERS_TIMEOUT);
    await waitFor(() => up.peerClosed.has(0), "the upstream connection to close");
    expect(pool.stats).toMatchObject({ connected: 0, running: 0 });
  });

  it("reports LANECAR_BODY_TIMEOUT when the body stalls", async () => {
    const up = await rawUpstream((_head, socket) =>
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"),
    );
    const pool = newPool(up.port);
    const rec = await run(pool, get("/", { bodyTimeoutMs: 200 }), undefined, 3000);
    expect(rec.events).toEqual(["connect", "headers", "data", "error"]);
    expect(rec.error?.code).toBe(BODY_TIMEOUT);
  });

  const invalid: [string, string][] = [
    ["a header line without a colon", "HTTP/1.1 200 OK\r\nX-Bad\r\ncontent-length: 0\r\n\r\n"],
    ["a NUL in a header value", "HTTP/1.1 200 OK\r\nx-a: b\0c\r\ncontent-length: 0\r\n\r\n"],
    ["a space before the colon", "HTTP/1.1 200 OK\r\nx-a : b\r\ncontent-length: 0\r\n\r\n"],
    ["bare LF line endings", "HTTP/1.1 200 OK\nx-a: b\ncontent-length: 0\n\n"],
    ["conflicting Content-Length", "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!"],
    [
      "Content-Length with Transfer-Encoding",
      "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ["a garbage status line", "HTX/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
    ["a 101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\n\r\n"],
    [
      "a 101 with Upgrade headers nobody asked for",
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    ],
  ];
  for (const [what, response] of invalid) {
    it(`reports LANECAR_UPSTREAM_PROTOCOL for a response with ${what}`, async () => {
      const up = await rawUpstream((_head, socket) => socket.write(response));
      const pool = newPool(up.port);
      const rec = await run(pool, get("/", { headersTimeoutMs: 1000 }));
      expect(rec.error?.code).toBe(PROTOCOL);
      expect(rec.events.filter((e) => e === "complete" || e === "error")).toEqual(["error"]);
      await waitFor(() => pool.stats.connected === 0, "the connection to be dropped");
    });
  }

  it("refuses a request header carrying a line break, sending nothing", async () => {
    const up = await rawUpstream((_head, socket) =>
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
    );
    const pool = newPool(up.port);
    const rec = await run(pool, get("/", { headers: ["host", "a", "x-a", "b\r\nx-injected: 1"] }));
    expect(rec.events).toEqual(["connect", "error"]);
    expect(rec.error?.code).toBe(PROTOCOL);
    await sleep(20);
    expect(up.received.join("")).toBe("");
  });

  it("never hands a queued request bytes the upstream sent before that request", async () => {
    // The upstream answers /first with extra bytes shaped like a response; /second is queued
    // behind it on the only connection. Those bytes predate /second: they are not its response.
    const up = await rawUpstream((head, socket) => {
      if (head.startsWith("GET /first"))
        socket.write(
          "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged",
        );
      else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond");
    });
    const pool = newPool(up.port, { connections: 1 });
    const first = new Recorder();
    const second = new Recorder();
    pool.dispatch(get("/first"), first);
    pool.dispatch(get("/second"), second);
    await Promise.all([first.done(), second.done()]);
    expect(first.body).toBe("first");
    expect(second.body).not.toBe("forged");
    expect(second.events).toEqual(["connect", "headers", "data", "complete"]);
    expect(second.body).toBe("second");
  });
  it("keeps a HEAD response's stray body (an app bug) away from the request queued behind it", async () => {
    const up = await rawUpstream((head, socket) => {
      if (head.startsWith("HEAD")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
      else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext");
    });
    const pool = newPool(up.port, { connections: 1 });
    const head = new Recorder();
    const next = new Recorder();
    pool.dispatch(get("/", { method: "HEAD" }), head);
    pool.dispatch(get("/next"), next);
    await Promise.all([head.done(), next.done()]);
    expect(head.events).toEqual(["connect", "headers", "complete"]);
    expect(next.error).toBeUndefined();
    expect(next.body).toBe("next");
  });
});

describe("UpstreamPool abort", () => {
  it("aborts a request waiting for its response headers", async () => {
    const up = await rawUpstream(() => {});
    const pool = newPool(up.port);
    const rec = new Recorder();
    pool.dispatch(get("/"), rec);
    await waitFor(() => up.heads.length === 1, "the request upstream");
    rec.abort();
    await rec.done();
    expect(rec.events).toEqual(["connect", "error"]);
    expect(rec.error?.code).toBe(ABORTED);
    await waitFor(() => up.peerClosed.has(0), "the upstream connection to close");
    expect(pool.stats).toMatchObject({ connected: 0, running: 0 });
  });

  it("passes the abort reason to onError", async () => {
    const up = await rawUpstream(() => {});
    const pool = newPool(up.port);
    const rec = new Recorder();
    pool.dispatch(get("/"), rec);
    await waitFor(() => up.heads.length === 1, "the request upstream");
    const reason = new Error("client closed");
    rec.abort(reason);
    await rec.done();
    expect(rec.error).toBe(reason);
  });

  it("aborts a request mid-body: no more data, no onComplete, connection dropped", async () => {
    let sock: import("node:net").Socket | undefined;
    const up = await rawUpstream((_head, socket) => {
      sock = socket;
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
    });
    const pool = newPool(up.port);
    const rec = new Recorder();
    pool.dispatch(get("/"), rec);
    await waitFor(() => rec.events.includes("data"), "the first body bytes");
    rec.abort();
    sock!.write("defghij");
    await rec.done();
    await sleep(30);
    expect(rec.events).toEqual(["connect", "headers", "data", "error"]);
    expect(rec.error?.code).toBe(ABORTED);
    expect(rec.body).toBe("abc");
    await waitFor(() => pool.stats.connected === 0, "the connection to be dropped");
  });

  it("aborts a queued request without sending it", async () => {
    const up = await rawUpstream((head, socket) => {
      if (!head.startsWith("GET /hold")) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    });
    const pool = newPool(up.port, { connections: 1 });
    const hold = new Recorder();
    const queued = new Recorder();
    pool.dispatch(get("/hold"), hold);
    pool.dispatch(get("/queued"), queued);
    expect(pool.queued).toBe(1);
    queued.abort();
    await queued.done();
    expect(queued.events).toEqual(["connect", "error"]);
    expect(queued.error?.code).toBe(ABORTED);
    expect(pool.queued).toBe(0);
    await waitFor(() => up.heads.length === 1, "the held request upstream");
    up.sockets[0]!.write("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nheld");
    expect((await hold.done()).body).toBe("held");
    expect((await run(pool, get("/after"))).body).toBe("ok");
    expect(up.heads.map((h) => h.head.split(" ")[1])).toEqual(["/hold", "/after"]);
  });

  it("aborts from onConnect: nothing is sent, no connection is opened", async () => {
    const up = await rawUpstream(() => {});
    const pool = newPool(up.port);
    const rec = new Recorder();
    rec.connectHook = (abort) => abort();
    await run(pool, get("/"), rec);
    expect(rec.events).toEqual(["connect", "error"]);
    expect(rec.error?.code).toBe(ABORTED);
    await sleep(30);
    expect(up.sockets.length).toBe(0);
    expect(pool.stats).toMatchObject({ connected: 0, running: 0, queued: 0 });
  });
});

describe("UpstreamPool backpressure", () => {
  const OK5 = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

  it("does not return a connection paused by onData to the pool paused", async () => {
    const up = await rawUpstream((_head, socket) => socket.write(OK5));
    const pool = newPool(up.port, { connections: 1 });
    const first = new Recorder();
    first.dataResult = () => false; // never resumes
    await run(pool, get("/1"), first);
    expect(first.events).toEqual(["connect", "headers", "data", "complete"]);
    const second = await run(pool, get("/2"));
    expect(second.events).toEqual(["connect", "headers", "data", "complete"]);
    expect(second.body).toBe("hello");
    expect(up.sockets.length).toBe(1);
  });

  it("does not return a connection paused by onHeaders to the pool paused", async () => {
    const up = await rawUpstream((_head, socket) =>
      socket.write("HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n"),
    );
    const pool = newPool(up.port, { connections: 1 });
    const first = new Recorder();
    first.headersResult = false;
    await run(pool, get("/1"), first);
    const second = await run(pool, get("/2"));
    expect(second.events).toEqual(["connect", "headers", "complete"]);
    expect(second.status).toBe(204);
    expect(up.sockets.length).toBe(1);
  });

  it("pauses on onData false until resume(), and a stale resume() of a finished request does not", async () => {
    const up = await rawUpstream((head, socket) => {
      if (head.startsWith("GET /1")) socket.write(OK5);
      else {
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc");
        setTimeout(() => socket.write("def"), 20);
      }
    });
    const pool = newPool(up.port, { connections: 1 });
    const first = new Recorder();
    first.dataResult = () => false;
    await run(pool, get("/1"), first);
    const second = new Recorder();
    second.dataResult = () => false;
    pool.dispatch(get("/2"), second);
    await waitFor(() => second.events.includes("data"), "the first chunk");
    await sleep(60); // "def" is upstream by now, held by the pause
    first.resume(); // belongs to a finished request: must not resume /2
    await sleep(30);
    expect(second.body).toBe("abc");
    expect(second.finished).toBe(false);
    second.resume();
    await second.done();
    expect(second.body).toBe("abcdef");
    expect(second.events).toEqual(["connect", "headers", "data", "complete"]);
  });
});

describe("UpstreamPool connection lifetime", () => {
  it("closes an idle connection before the upstream's Keep-Alive: timeout=N hint", async () => {
    const up = await rawUpstream((_head, socket) =>
      socket.write("HTTP/1.1 200 OK\r\nkeep-alive: timeout=2\r\ncontent-length: 2\r\n\r\nok"),
    );
    const pool = newPool(up.port, { idleTimeoutMs: 60_000 });
    await run(pool, get("/"));
    expect(pool.stats).toMatchObject({ connected: 1, free: 1 });
    // The upstream never closes: only the pool can, and it must before 2 s.
    await waitFor(() => pool.stats.connected === 0, "the pool to close the idle connection", 1900);
    await waitFor(() => up.peerClosed.has(0), "the upstream to see the close");
  });

  it("closes an idle connection after idleTimeoutMs and opens a new one next time", async () => {
    const up = await rawUpstream((_head, socket) =>
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
    );
    const pool = newPool(up.port, { idleTimeoutMs: 200 });
    await run(pool, get("/"));
    expect(pool.stats.connected).toBe(1);
    await waitFor(() => pool.stats.connected === 0, "the idle connection to close", 1500);
    expect(up.peerClosed.has(0)).toBe(true);
    expect((await run(pool, get("/"))).body).toBe("ok");
    expect(up.sockets.length).toBe(2);
  });

  it("closes a connection after maxRequestsPerConnection requests", async () => {
    const up = await httpUpstream((req, res) => res.end(String(up.sockets.indexOf(req.socket))));
    const pool = newPool(up.port, { maxRequestsPerConnection: 2 });
    const on: string[] = [];
    for (let i = 0; i < 3; i++) on.push((await run(pool, get(`/${i}`))).body);
    expect(on).toEqual(["0", "0", "1"]);
    expect(up.sockets.length).toBe(2);
    await waitFor(() => up.sockets[0]!.destroyed, "the first connection to close");
  });
});

describe("UpstreamPool close", () => {
  it("fails queued requests, lets in-flight ones finish, then resolves", async () => {
    const held: ServerResponse[] = [];
    const up = await httpUpstream((_req, res) => held.push(res));
    const pool = newPool(up.port, { connections: 1 });
    const inflight = new Recorder();
    const queued = new Recorder();
    pool.dispatch(get("/inflight"), inflight);
    pool.dispatch(get("/queued"), queued);
    await waitFor(() => held.length === 1, "the request upstream");

    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    await queued.done();
    expect(queued.error?.code).toBe(CLOSED);
    const late = await run(pool, get("/late"));
    expect(late.events).toEqual(["connect", "error"]);
    expect(late.error?.code).toBe(CLOSED);
    await sleep(50);
    expect(closed).toBe(false);
    expect(inflight.finished).toBe(false);

    held[0]!.end("done");
    await inflight.done();
    expect(inflight.events).toEqual(["connect", "headers", "data", "complete"]);
    expect(inflight.body).toBe("done");
    await closing;
    expect(pool.stats).toMatchObject({ connected: 0, running: 0, queued: 0 });
    expect(held.length).toBe(1);
  });

  it("resolves at once with only idle connections, closing them", async () => {
    const up = await httpUpstream((_req, res) => res.end("ok"));
    const pool = newPool(up.port);
    await run(pool, get("/"));
    expect(pool.stats.connected).toBe(1);
    await pool.close();
    await waitFor(() => up.sockets[0]!.destroyed, "the upstream socket to close");
  });
});
