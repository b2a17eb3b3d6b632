/**
 * Issue 6, item 1: request smuggling and desync vectors. Each is answered 400 with the connection
 * closed, and no byte of it reaches an upstream (a raw TCP upstream records every byte). Checked
 * on the sidecar's inbound listener (to the app), its outbound listener (routed) and the gateway,
 * each with a kept-alive upstream connection already open, which is when a leak would be fastest.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cmdline } from "./support/proc.js";
import { type Started, startListenersFor } from "./support/proxy.js";
import { rawExchange, statuses } from "./support/raw-client.js";
import { type RecordingUpstream, startRecordingUpstream } from "./support/recording-upstream.js";
import { header } from "./support/strict-http.js";

const H = "Host: up:9080\r\n";
const VECTORS: [string, string][] = [
  [
    "Content-Length with Transfer-Encoding",
    `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`,
  ],
  [
    "Transfer-Encoding then Content-Length",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG`,
  ],
  [
    "differing duplicate Content-Length",
    `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 6\r\n\r\nGET / `,
  ],
  ["two lengths in one Content-Length", `POST / HTTP/1.1\r\n${H}Content-Length: 1, 6\r\n\r\nGET / `],
  ["Transfer-Encoding: xchunked", `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
  [
    "Transfer-Encoding: chunked, identity",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
  ],
  [
    "Transfer-Encoding: identity",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\nGET / HTTP/1.1\r\n\r\n`,
  ],
  ["space before colon", `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
  ["tab before colon", `POST / HTTP/1.1\r\n${H}Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n`],
  ["tab-folded Transfer-Encoding", `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n`],
  ["obs-fold", `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`],
  ["bare LF line ends", `GET / HTTP/1.1\n${H.replace("\r\n", "\n")}\n`],
  ["bare LF inside the head", `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`],
  ["bare CR inside the head", `GET / HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`],
  ["NUL in a header value", `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`],
  ["space in the request target", `GET /a b HTTP/1.1\r\n${H}\r\n`],
  ["HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n"],
  [
    "invalid chunk size (not hex)",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
  ],
  [
    "invalid chunk size (negative)",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n`,
  ],
  [
    "invalid chunk size (0x prefix)",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n`,
  ],
  [
    "chunk size overflow",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000001\r\na\r\n0\r\n\r\n`,
  ],
  [
    "chunk data longer than its size",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n0\r\n\r\n`,
  ],
  [
    "chunk-extension flood",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1;${"ab=cd;".repeat(5000)}a=b\r\nx\r\n0\r\n\r\n`,
  ],
];

/** Issue 11, item 3: RFC 9112 framing beyond the parser's, with the status each must get. */
const FRAMING: [string, string, number][] = [
  [
    "a coding before chunked (gzip, chunked)",
    `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n`,
    501,
  ],
  [
    "HTTP/1.0 with Transfer-Encoding",
    `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n`,
    400,
  ],
  ["Host: a, b", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400],
  ["Host: user@host", "GET / HTTP/1.1\r\nHost: user@up:9080\r\n\r\n", 400],
  ["a #fragment", `GET /x#frag HTTP/1.1\r\n${H}\r\n`, 400],
  ["an HTTP/0.9 request line", "GET /\r\n", 400],
];

describe("smuggling and desync vectors", () => {
  let up: RecordingUpstream;
  let sc: Started;
  let gw: Started;
  beforeAll(async () => {
    up = await startRecordingUpstream("echo");
    ({ sc, gw } = await startListenersFor(up.port));
  });
  afterAll(async () => {
    await sc?.stop();
    await gw?.stop();
    await up?.close();
  });
  const portOf = (l: "inbound" | "outbound" | "gateway") =>
    l === "inbound" ? sc.port : l === "outbound" ? sc.outbound : gw.port;

  it("never runs with a lenient parser", () => {
    for (const p of [sc, gw]) {
      const argv = cmdline(p.pid);
      expect(argv.join(" ")).not.toContain("insecure-http-parser");
      expect(argv.some((a) => a.endsWith("lanecar.js"))).toBe(true);
      // Nor through the environment the process was started with.
      const env = readFileSync(`/proc/${p.pid}/environ`, "latin1");
      expect(env).not.toContain("insecure-http-parser");
    }
  });

  for (const listener of ["inbound", "outbound", "gateway"] as const) {
    for (const [name, bytes] of VECTORS) {
      it(`${listener}: ${name} → 400, closed, nothing upstream`, async () => {
        const port = portOf(listener);
        // Open a kept-alive upstream connection first: a leak would use it at once.
        const warm = await rawExchange(port, `GET /warm HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        expect(statuses(warm.data)).toEqual([200]);
        up.reset();
        const r = await rawExchange(port, bytes, 3000);
        expect(statuses(r.data)).toEqual([400]);
        expect(r.closed).toBe(true);
        await new Promise((res) => setTimeout(res, 50));
        expect({ bytes: up.bytes, requests: up.requests.length }).toEqual({ bytes: 0, requests: 0 });
      });
    }
  }

  for (const listener of ["inbound", "outbound", "gateway"] as const) {
    for (const [name, bytes, status] of FRAMING) {
      it(`${listener}: ${name} → ${status} at once, closed, nothing upstream`, async () => {
        const port = portOf(listener);
        const warm = await rawExchange(port, `GET /warm HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
        expect(statuses(warm.data)).toEqual([200]);
        up.reset();
        // The headers timeout is 10 s: an answer within 3 s is not the timeout's.
        const r = await rawExchange(port, bytes, 3000);
        expect(statuses(r.data)).toEqual([status]);
        expect(r.closed).toBe(true);
        await new Promise((res) => setTimeout(res, 50));
        expect({ bytes: up.bytes, requests: up.requests.length }).toEqual({ bytes: 0, requests: 0 });
      });
    }
  }

  for (const listener of ["inbound", "outbound", "gateway"] as const) {
    it(`${listener}: the chunk-extension limit is per chunk: 3 × 8 KiB of extensions pass`, async () => {
      up.reset();
      const ext = `;${"ab=cd;".repeat(2048)}x`;
      const chunks = ["1", "2", "3"].map((d) => `1${ext}\r\n${d}\r\n`).join("");
      const r = await rawExchange(
        portOf(listener),
        `POST /ext HTTP/1.1\r\n${H}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`,
        3000,
      );
      expect(statuses(r.data)).toEqual([200]);
      expect(up.requests.map((q) => `${q.target} ${q.body.toString("latin1")}`)).toEqual(["/ext 123"]);
    });
  }

  it("inbound: an absolute-form target goes to the app in origin form, Host from the target", async () => {
    up.reset();
    const r = await rawExchange(
      sc.port,
      "GET http://Up:9080/abs?q=1 HTTP/1.1\r\nHost: up:9080\r\n\r\n" +
        "GET http://other:9080 HTTP/1.1\r\nHost: other:9080\r\nConnection: close\r\n\r\n",
      3000,
    );
    expect(statuses(r.data)).toEqual([200, 200]);
    expect(up.requests.map((q) => `${q.target} ${header(q, "host")}`)).toEqual([
      "/abs?q=1 Up:9080",
      "/ other:9080",
    ]);
  });

  it("inbound: an absolute-form target with a conflicting Host → 400, nothing to the app", async () => {
    up.reset();
    const r = await rawExchange(sc.port, "GET http://up:9080/abs HTTP/1.1\r\nHost: evil:9080\r\n\r\n", 3000);
    expect(statuses(r.data)).toEqual([400]);
    await new Promise((res) => setTimeout(res, 50));
    expect(up.requests.length).toBe(0);
  });

  for (const listener of ["inbound", "outbound", "gateway"] as const) {
    it(`${listener}: a pipelined probe and a GET are exactly the two requests the client meant`, async () => {
      const port = portOf(listener);
      up.reset();
      // A POST whose body looks like a request, then a real GET on the same connection.
      const smuggled = "GET /admin HTTP/1.1\r\nHost: up:9080\r\n\r\n";
      const probe = `POST /probe HTTP/1.1\r\n${H}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
      const r = await rawExchange(port, `${probe}GET /next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, 3000);
      expect(statuses(r.data)).toEqual([200, 200]);
      expect(up.errors).toEqual([]);
      // Pipelined requests may go upstream on two connections at once: compare as a set.
      expect(up.requests.map((q) => `${q.method} ${q.target} ${q.body.length}`).sort()).toEqual([
        "GET /next 0",
        `POST /probe ${smuggled.length}`,
      ]);
      expect(up.requests.find((q) => q.method === "POST")!.body.toString("latin1")).toBe(smuggled);
    });

    it(`${listener}: a valid GET pipelined before a malformed request is the only one forwarded`, async () => {
      const port = portOf(listener);
      up.reset();
      const bad = `POST /bad HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nxy`;
      const r = await rawExchange(port, `GET /first HTTP/1.1\r\n${H}\r\n${bad}`, 3000);
      expect(statuses(r.data)).toEqual([200, 400]);
      expect(r.closed).toBe(true);
      expect(up.errors).toEqual([]);
      expect(up.requests.map((q) => q.target)).toEqual(["/first"]);
    });
  }
});
