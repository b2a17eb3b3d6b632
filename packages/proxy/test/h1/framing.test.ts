/**
 * H1Server framing rules beyond llhttp's (issue 11, items 1, 3, 8 and 14), byte for byte on real
 * sockets: per-message parser state (trailers, URL) ends with the message, RFC 9112 framing
 * refusals, early responses, half-close, and connections that never send a byte.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ServerStream } from "../../src/h1/stream.js";
import { cleanup, RawClient, sleep, startH1, waitFor } from "./helpers.js";

afterEach(cleanup);

function errReply(status: string, body: string): string {
  return `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\nx-lanecar-flags: DPE\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
}
const REPLY_400 = errReply("400 Bad Request", "Bad Request");
const REPLY_VERSION = errReply("400 Bad Request", "unsupported HTTP version");
const REPLY_501 = errReply("501 Not Implemented", "transfer coding not supported");

function ok(s: ServerStream, body = "ok"): void {
  s.writeHead(200, undefined, ["content-length", String(body.length)]);
  s.end(body);
}

/** A handler recording each request's method, URL and headers, answering with the URL. */
function recorder(): { seen: { url: string; headers: string[] }[]; handler: (s: ServerStream) => void } {
  const seen: { url: string; headers: string[] }[] = [];
  return {
    seen,
    handler: (s) => {
      seen.push({ url: s.url, headers: [...s.rawHeaders] });
      s.readBody({ data: () => true, end: () => ok(s, s.url) });
    },
  };
}

const res = (body: string) => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;

describe("H1Server trailers never leak into the next request", () => {
  const withTrailers =
    "POST /first?q= HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nx-asm-prefer-tag: gray\r\nx-other: 1\r\n\r\n";

  it("drops request trailers: the next request has its own URL and headers only (one read)", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler);
    const c = await RawClient.connect(port);
    await c.send(
      `${withTrailers}GET /second HTTP/1.1\r\nHost: b\r\n\r\nGET /third HTTP/1.1\r\nHost: c\r\nX-Three: 3\r\n\r\n`,
    );
    await c.expectText(res("/first?q=") + res("/second") + res("/third"));
    expect(r.seen).toEqual([
      { url: "/first?q=", headers: ["Host", "a", "Transfer-Encoding", "chunked"] },
      { url: "/second", headers: ["Host", "b"] },
      { url: "/third", headers: ["Host", "c", "X-Three", "3"] },
    ]);
  });

  it("drops request trailers when the next request arrives in a later read", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler);
    const c = await RawClient.connect(port);
    await c.send(withTrailers);
    await c.expectText(res("/first?q="));
    c.clear();
    await c.send("GET /second HTTP/1.1\r\nHost: b\r\n\r\n");
    await c.expectText(res("/second"));
    expect(r.seen[1]).toEqual({ url: "/second", headers: ["Host", "b"] });
  });

  it("drops trailers split byte by byte", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler);
    const c = await RawClient.connect(port);
    const all = `${withTrailers}GET /second HTTP/1.1\r\nHost: b\r\n\r\n`;
    for (const ch of all) {
      await c.send(ch);
      await sleep(1);
    }
    await c.expectText(res("/first?q=") + res("/second"));
    expect(r.seen[1]).toEqual({ url: "/second", headers: ["Host", "b"] });
  });
});

describe("H1Server RFC 9112 framing refusals", () => {
  const refused: [string, string, string][] = [
    [
      "a coding before chunked (gzip, chunked)",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      REPLY_501,
    ],
    [
      "two Transfer-Encoding headers (gzip, then chunked)",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      REPLY_501,
    ],
    [
      "HTTP/1.0 with Transfer-Encoding",
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
      REPLY_400,
    ],
    [
      "a last coding other than chunked (chunked, gzip)",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
      REPLY_400,
    ],
    [
      "Transfer-Encoding: identity",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
      REPLY_400,
    ],
    ["Host with a list (a, b)", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", REPLY_400],
    ["Host with userinfo (user@host)", "GET / HTTP/1.1\r\nHost: user@host\r\n\r\n", REPLY_400],
    ["Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", REPLY_400],
    ["a #fragment in the target", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", REPLY_400],
    ["an HTTP/0.9 request with an empty line", "GET /\r\n\r\n", REPLY_VERSION],
  ];
  for (const [what, bytes, reply] of refused) {
    it(`refuses ${what}, handing nothing to the handler`, async () => {
      const r = recorder();
      const { port } = await startH1(r.handler);
      const c = await RawClient.connect(port);
      await c.send(bytes);
      await c.expectText(reply);
      await c.whenClosed();
      expect(r.seen).toEqual([]);
    });
  }

  for (const host of ["example.com", "example.com:8080", "[::1]:80", "10.0.0.1", "a-b.c_d~"]) {
    it(`accepts Host: ${host}`, async () => {
      const r = recorder();
      const { port } = await startH1(r.handler);
      const c = await RawClient.connect(port);
      await c.send(`GET /h HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      await c.expectText(res("/h"));
    });
  }

  it("accepts a lone chunked in any case", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler);
    const c = await RawClient.connect(port);
    await c.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
    await c.expectText(res("/c"));
  });

  it("answers an HTTP/0.9 request line at once, not at the headers timeout", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler, { headersTimeoutMs: 20_000, requestTimeoutMs: 30_000 });
    const c = await RawClient.connect(port);
    await c.send("GET /\r\n");
    await c.expectText(REPLY_VERSION, 3000);
    await c.whenClosed();
    expect(r.seen).toEqual([]);
  });

  it("answers an HTTP/0.9 line split over reads once its line end arrives", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler, { headersTimeoutMs: 20_000, requestTimeoutMs: 30_000 });
    const c = await RawClient.connect(port);
    await c.send("GET /a");
    await sleep(30);
    expect(c.text).toBe("");
    await c.send("bc\r");
    await sleep(30);
    await c.send("\n");
    await c.expectText(REPLY_VERSION, 3000);
  });

  it("answers an HTTP/0.9 line pipelined behind a request after that request's response", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler, { headersTimeoutMs: 20_000, requestTimeoutMs: 30_000 });
    const c = await RawClient.connect(port);
    await c.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /\r\n");
    await c.expectText(
      "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\n/ok" + REPLY_VERSION,
      3000,
    );
  });

  it("does not mistake a request line split before its version for HTTP/0.9", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler);
    const c = await RawClient.connect(port);
    await c.send("\r\nGET /split HTT");
    await sleep(30);
    await c.send("P/1.1\r\nHo");
    await sleep(30);
    await c.send("st: a\r\n\r\n");
    await c.expectText(res("/split"));
  });
});

describe("H1Server early responses and half-close", () => {
  it("says connection: close on a response sent before the request body was read, then closes", async () => {
    const { port } = await startH1((s) => {
      s.writeHead(413, undefined, ["content-length", "0"]);
      s.end();
    });
    const c = await RawClient.connect(port);
    await c.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npart");
    await c.expectText("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    await c.whenClosed();
  });

  it("delivers the response to a complete request after the client's FIN, then closes", async () => {
    const { port } = await startH1((s) => {
      setTimeout(() => ok(s, "late"), 100);
    });
    const c = await RawClient.connect(port);
    await c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    c.socket.end();
    await c.expectText("HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nlate");
    await c.whenClosed();
  });

  it("delivers every pipelined response after the client's FIN", async () => {
    const { port } = await startH1((s) => setTimeout(() => ok(s, s.url), 20));
    const c = await RawClient.connect(port);
    await c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    c.socket.end();
    await c.expectText(`${res("/1")}HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n/2`);
    await c.whenClosed();
  });

  it("answers 400 to a FIN in the middle of a request head", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler);
    const c = await RawClient.connect(port);
    await c.send("GET / HTTP/1.1\r\nHo");
    c.socket.end();
    await c.expectText(REPLY_400);
    await c.whenClosed();
    expect(r.seen).toEqual([]);
  });

  it("answers 400 to a FIN in the middle of a request body, aborting the stream", async () => {
    let stream: ServerStream | undefined;
    const { port } = await startH1((s) => {
      stream = s;
      s.readBody({ data: () => true, end: () => ok(s) });
    });
    const c = await RawClient.connect(port);
    await c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    await waitFor(() => stream !== undefined, "the request");
    c.socket.end();
    await c.expectText(REPLY_400);
    await c.whenClosed();
    expect(stream!.aborted).toBe(true);
  });

  it("closes at once on a FIN with nothing owed", async () => {
    const { port } = await startH1((s) => ok(s));
    const c = await RawClient.connect(port);
    await c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.expectText(res("ok"));
    c.socket.end();
    await c.whenClosed(1000);
  });
});

describe("H1Server connections that never send a byte", () => {
  it("closes them at the headers timeout, not the keep-alive timeout", async () => {
    const { port } = await startH1(() => {}, {
      headersTimeoutMs: 200,
      requestTimeoutMs: 1000,
      keepAliveTimeoutMs: 60_000,
    });
    const c = await RawClient.connect(port);
    const t0 = Date.now();
    await c.whenClosed(5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(c.text).toBe("");
  });

  it("keeps a connection that served a request until the keep-alive timeout", async () => {
    const { port } = await startH1((s) => ok(s), {
      headersTimeoutMs: 200,
      requestTimeoutMs: 1000,
      keepAliveTimeoutMs: 60_000,
    });
    const c = await RawClient.connect(port);
    await c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.expectText(res("ok"));
    await sleep(800);
    expect(c.closed).toBe(false);
  });
});

describe("H1Server chunk extensions", () => {
  // Node's parser counts the bytes of extension names and values (16 KiB): `ab=cd;` counts 4 of 6.
  const ext = (bytes: number) => `;${"ab=cd;".repeat(Math.ceil(bytes / 4))}x`;
  it("limits the extensions of one chunk (16 KiB), not of the whole body", async () => {
    const r = recorder();
    const { port } = await startH1(r.handler);
    const c = await RawClient.connect(port);
    // Three chunks with 8 KiB of extensions each: 24 KiB in all, each under the limit.
    const chunks = [1, 2, 3].map((i) => `1${ext(8 * 1024)}\r\n${i}\r\n`).join("");
    await c.send(`POST /ext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`);
    await c.expectText(res("/ext"));
    const d = await RawClient.connect(port);
    await d.send(
      `POST /ext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1${ext(17 * 1024)}\r\nx\r\n0\r\n\r\n`,
    );
    await d.expectText(REPLY_400);
  });
});
