/**
 * Issue 11, item 1: trailers never leak across messages. Request trailers from a client, and
 * response trailers from an upstream on a pooled connection, are dropped (docs/decisions.md);
 * they never become headers of the next message on the connection, and the next request's URL
 * is its own. Checked against running processes on every listener: the sidecar's inbound and
 * outbound, and the gateway, with a raw upstream that records every byte per connection.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Started, startListenersFor } from "./support/proxy.js";
import { rawExchange, statuses } from "./support/raw-client.js";
import { header, type ParsedRequest, parseRequest } from "./support/strict-http.js";

const H = "Host: up:9080\r\n";
const TRAILERS = "x-asm-prefer-tag: gray\r\nx-trailer-only: 1\r\n";

interface Seen {
  request: ParsedRequest;
  /** Index of the upstream connection it came on. */
  conn: number;
}

/**
 * A raw upstream: `/trailers` is answered chunked with response trailers (`Set-Cookie`,
 * `Server-Timing`), anything else with a JSON echo of its target and headers.
 */
async function trailerUpstream(): Promise<{
  port: number;
  seen: Seen[];
  raw: string[];
  close(): Promise<void>;
}> {
  const seen: Seen[] = [];
  const raw: string[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer({ noDelay: true }, (socket) => {
    const conn = sockets.length;
    sockets.push(socket);
    raw.push("");
    let buf = Buffer.alloc(0);
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      raw[conn] += d.toString("latin1");
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const step = parseRequest(buf);
        if (step.kind !== "request") {
          if (step.kind === "error") socket.destroy();
          return;
        }
        buf = buf.subarray(step.used);
        const r = step.request;
        seen.push({ request: r, conn });
        if (r.target === "/trailers") {
          socket.write(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n" +
              "set-cookie: session=victim\r\nserver-timing: db;dur=53\r\n\r\n",
          );
        } else {
          const body = JSON.stringify({ target: r.target, headers: r.headers });
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as { port: number }).port,
    seen,
    raw,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe("trailers never leak across messages", () => {
  let up: Awaited<ReturnType<typeof trailerUpstream>>;
  let sc: Started;
  let gw: Started;
  beforeAll(async () => {
    up = await trailerUpstream();
    ({ sc, gw } = await startListenersFor(up.port));
  });
  afterAll(async () => {
    await sc?.stop();
    await gw?.stop();
    await up?.close();
  });
  const portOf = (l: "inbound" | "outbound" | "gateway") =>
    l === "inbound" ? sc.port : l === "outbound" ? sc.outbound : gw.port;

  const withTrailers = `POST /first?q= HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n${TRAILERS}\r\n`;

  for (const listener of ["inbound", "outbound", "gateway"] as const) {
    for (const pipelined of [true, false]) {
      it(`${listener}: request trailers stay out of the next request (${pipelined ? "pipelined" : "after the response"})`, async () => {
        const port = portOf(listener);
        const from = up.seen.length;
        const next = `GET /second HTTP/1.1\r\n${H}Connection: close\r\n\r\n`;
        let data: string;
        if (pipelined) {
          data = (await rawExchange(port, withTrailers + next, 3000)).data;
        } else {
          data = await twoStep(port, withTrailers, next);
        }
        expect(statuses(data)).toEqual([200, 200]);
        const got = up.seen.slice(from).map((s) => s.request);
        expect(got.map((r) => `${r.method} ${r.target} ${r.body.toString("latin1")}`).sort()).toEqual([
          "GET /second ",
          "POST /first?q= body",
        ]);
        for (const r of got) {
          expect(header(r, "x-asm-prefer-tag")).toBeUndefined();
          expect(header(r, "x-trailer-only")).toBeUndefined();
        }
        // Dropped, not forwarded: no byte of the trailers went upstream at all.
        expect(up.raw.join("")).not.toContain("x-trailer-only");
      });
    }

    it(`${listener}: response trailers on a pooled connection never reach the next client`, async () => {
      const port = portOf(listener);
      const from = up.seen.length;
      const first = await rawExchange(port, `GET /trailers HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 3000);
      expect(statuses(first.data)).toEqual([200]);
      // Dropped: the chunked response ends with the last chunk and no trailer section.
      expect(first.data.endsWith("5\r\nfirst\r\n0\r\n\r\n")).toBe(true);
      expect(first.data).not.toContain("session=victim");
      const second = await rawExchange(port, `GET /next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 3000);
      expect(statuses(second.data)).toEqual([200]);
      expect(second.data.toLowerCase()).not.toContain("set-cookie");
      expect(second.data.toLowerCase()).not.toContain("server-timing");
      const seen = up.seen.slice(from);
      expect(seen.map((s) => s.request.target)).toEqual(["/trailers", "/next"]);
      // The same upstream connection carried both: the pool reused it (the case that leaked).
      expect(seen[1]!.conn).toBe(seen[0]!.conn);
    });
  }
});

/** Sends `a`, waits for its response, then sends `b` on the same connection; all bytes back. */
async function twoStep(port: number, a: string, b: string): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, noDelay: true });
    let data = "";
    let sent = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer; received ${JSON.stringify(data)}`));
    }, 3000);
    s.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      if (!sent && statuses(data).length === 1 && /\r\n\r\n[\s\S]*\}$/.test(data)) {
        sent = true;
        s.write(b);
      }
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(data);
    });
    s.write(a);
  });
}
