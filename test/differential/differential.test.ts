/**
 * Issue 11, item 2: a differential test of the HTTP/1.1 codec through running `lanecar`
 * processes. Generated client byte streams (pipelined requests, cut into writes at random points
 * or before every byte, HTTP/1.0 and 1.1, Content-Length and chunked bodies with extensions and
 * trailers, Expect: 100-continue, hop-by-hop headers, keep-alive then close) go through the
 * sidecar inbound, the sidecar outbound or the gateway to a raw upstream that records every
 * byte. An independent strict parser (strict-http1.ts) reads what the client sent, what the
 * upstream received and what the client got back:
 *
 * - the upstream receives exactly the client's requests, in order, and nothing else: same method,
 *   target and body; the same end-to-end header fields in the same order, modulo the documented
 *   proxy edits (hop-by-hop fields and those `Connection` names removed, `Expect` answered by the
 *   proxy, `Host` set, `x-request-id` added when missing, the body re-framed, trailers dropped);
 * - the client receives exactly the upstream's responses, in order: same status, reason, fields
 *   (modulo hop-by-hop and the proxy's framing fields) and body; no trailers; and nothing else.
 *
 * fast-check with a fixed seed and bounded runs, so it is the same every time and runs in CI.
 */
import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Started, startListenersFor } from "../hardening/support/proxy.js";
import {
  ABSOLUTE_PREFIX,
  clientBytes,
  cut,
  responseBytes,
  responseHasBody,
  type Scenario,
  scenarioArb,
} from "./scenario.js";
import { type Fields, parseAll, values } from "./strict-http1.js";
import { Upstream } from "./upstream.js";

type Listener = "inbound" | "outbound" | "gateway";

const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  "http2-settings",
]);

/** Fields without hop-by-hop ones and those `Connection` names (RFC 9110 §7.6.1). */
function endToEnd(fields: Fields, drop: string[] = []): Fields {
  const named = values(fields, "connection").flatMap((v) => v.split(",").map((t) => t.trim().toLowerCase()));
  return fields.filter(([k]) => {
    const n = k.toLowerCase();
    return !HOP.has(n) && !named.includes(n) && !drop.includes(n);
  });
}

/** Sends `parts` on a new connection (a pause between writes) and reads until the proxy closes. */
function converse(port: number, parts: Buffer[], timeoutMs = 8000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, noDelay: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new Error(
          `the proxy did not close the connection; received ${JSON.stringify(Buffer.concat(chunks).toString("latin1"))}`,
        ),
      );
    }, timeoutMs);
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    s.on("connect", async () => {
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, parts.length > 50 ? 0 : 1));
        if (!s.writable) return;
        s.write(parts[i]!);
      }
    });
  });
}

/** The requests the proxy forwards: all, up to one whose response ends the connection. */
function forwardedCount(s: Scenario): number {
  const ex = s.exchanges;
  for (let i = 0; i < ex.length; i++) {
    const { request: q, response: r } = ex[i]!;
    // An HTTP/1.0 client gets a body without a length by the end of the connection.
    if (q.version === "1.0" && responseHasBody(q.method, r.status) && r.framing !== "length") return i + 1;
  }
  return ex.length;
}

let runs = 0;

async function check(up: Upstream, port: number, listener: Listener, s: Scenario): Promise<void> {
  const run = ++runs;
  up.plans.set(run, s.exchanges);
  const bytes = Buffer.from(clientBytes(s, run), "latin1");
  // What the client sent, read by the strict parser: the generator writes valid HTTP/1.1.
  const sent = parseAll(bytes, "request");
  expect(sent.length).toBe(s.exchanges.length);
  const got = await converse(port, cut(bytes, s.splits));
  // Late bytes would show up here.
  await new Promise((r) => setTimeout(r, 5));
  const n = forwardedCount(s);

  // ---- upstream side: exactly the client's requests, in order, nothing else ----
  expect(up.errors).toEqual([]);
  const upstream = up.received.filter((r) => r.run === run);
  expect(upstream.map((r) => r.index)).toEqual([...Array(n).keys()]);
  for (let i = 0; i < n; i++) {
    const c = sent[i]!;
    const u = upstream[i]!.message;
    const what = `${listener} run ${run} request ${i}`;
    // An absolute-form target goes upstream in origin form (Host from the target).
    const target = c.target.startsWith(ABSOLUTE_PREFIX) ? c.target.slice(ABSOLUTE_PREFIX.length) : c.target;
    expect({ what, line: `${u.method} ${u.target} HTTP/${u.version}` }).toEqual({
      what,
      line: `${c.method} ${target} HTTP/1.1`,
    });
    expect({ what, body: u.body.toString("latin1"), trailers: u.trailers }).toEqual({
      what,
      body: c.body.toString("latin1"),
      trailers: [],
    });
    expect({ what, hosts: values(u.headers, "host").length }).toEqual({ what, hosts: 1 });
    const clientIds = values(c.headers, "x-request-id");
    const upIds = values(u.headers, "x-request-id");
    if (clientIds.length > 0) expect({ what, ids: upIds }).toEqual({ what, ids: clientIds });
    else expect(upIds.length).toBeLessThanOrEqual(1);
    // The outbound and the gateway name their workload to the called sidecar (docs/decisions.md,
    // "Telemetry"): one proxy-added field, never one the client sent (the generator never does).
    const peer = values(u.headers, "x-lanecar-peer-metadata");
    expect({ what, peer: peer.length }).toEqual({ what, peer: listener === "inbound" ? 0 : 1 });
    const drop = [
      "host",
      "expect",
      "x-lanecar-peer-metadata",
      ...(clientIds.length === 0 ? ["x-request-id"] : []),
    ];
    expect({ what, headers: endToEnd(u.headers, drop) }).toEqual({
      what,
      headers: endToEnd(c.headers, drop),
    });
  }
  expect(up.pending.every((p) => p === 0)).toBe(true);

  // ---- client side: exactly the upstream's responses, in order, nothing else ----
  const methods = sent.map((m) => m.method);
  const all = parseAll(got, "response", methods);
  const interim = all.filter((m) => m.status < 200);
  const finals = all.filter((m) => m.status >= 200);
  for (const m of interim) expect(m.status).toBe(100);
  expect(finals.length).toBe(n);
  for (let i = 0; i < n; i++) {
    const what = `${listener} run ${run} response ${i}`;
    const plan = s.exchanges[i]!;
    const planned = parseAll(Buffer.from(responseBytes(plan.response, methods[i]!), "latin1"), "response", [
      methods[i]!,
    ])[0]!;
    const r = finals[i]!;
    expect({
      what,
      status: `${r.status} ${r.reason}`,
      body: r.body.toString("latin1"),
      trailers: r.trailers,
    }).toEqual({
      what,
      status: `${planned.status} ${planned.reason}`,
      body: planned.body.toString("latin1"),
      trailers: [],
    });
    expect({ what, headers: endToEnd(r.headers) }).toEqual({ what, headers: endToEnd(planned.headers) });
  }
}

describe("differential: what the client sent is what the upstream got, and back", () => {
  const up = new Upstream();
  let sc: Started;
  let gw: Started;
  beforeAll(async () => {
    await up.start();
    ({ sc, gw } = await startListenersFor(up.port));
  });
  afterAll(async () => {
    await sc?.stop();
    await gw?.stop();
    await up.close();
  });
  beforeEach(() => {
    up.errors.length = 0;
  });
  const portOf = (l: Listener) => (l === "inbound" ? sc.port : l === "outbound" ? sc.outbound : gw.port);

  it("generated conversations through every listener (fixed seed, bounded runs)", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.constantFrom<Listener>("inbound", "outbound", "gateway"), (s, l) =>
        check(up, portOf(l), l, s),
      ),
      // Fixed for CI; LANECAR_DIFF_SEED / LANECAR_DIFF_RUNS explore further by hand.
      {
        seed: Number(process.env.LANECAR_DIFF_SEED ?? 20261206),
        numRuns: Number(process.env.LANECAR_DIFF_RUNS ?? 150),
      },
    );
  }, 120_000);

  it("a pipelined conversation cut at every byte boundary", async () => {
    const s: Scenario = {
      splits: [],
      exchanges: [
        {
          request: {
            method: "POST",
            version: "1.1",
            suffix: "?a=1",
            headers: [["X-G-a", "1"]],
            hop: true,
            requestId: undefined,
            expect: true,
            absolute: false,
            body: {
              kind: "chunked",
              chunks: [
                { data: "hello", ext: ";a=b" },
                { data: "0\r\n\r\n", ext: "" },
              ],
              lastExt: ";z",
              trailers: [["X-G-t", "gray"]],
            },
          },
          response: {
            status: 200,
            reason: "OK",
            headers: [["X-G-r", "1"]],
            framing: "chunked",
            body: "resp",
            chunkExt: ";e",
            trailers: [["X-G-rt", "1"]],
            hop: true,
          },
        },
        {
          request: {
            method: "GET",
            version: "1.0",
            suffix: "",
            headers: [],
            hop: false,
            requestId: "rid-1",
            expect: false,
            absolute: true,
            body: { kind: "none" },
          },
          response: {
            status: 404,
            reason: "Not Found",
            headers: [],
            framing: "length",
            body: "nf",
            chunkExt: "",
            trailers: [],
            hop: false,
          },
        },
        {
          request: {
            method: "PUT",
            version: "1.1",
            suffix: "/x",
            headers: [],
            hop: false,
            requestId: undefined,
            expect: false,
            absolute: false,
            body: { kind: "length", data: "GET / HTTP/1.1\r\n\r\n" },
          },
          response: {
            status: 201,
            reason: "Created",
            headers: [],
            framing: "close",
            body: "made",
            chunkExt: "",
            trailers: [],
            hop: false,
          },
        },
      ],
    };
    const listeners: Listener[] = ["inbound", "outbound", "gateway"];
    // The run number is part of the bytes: the length is that of the next run's.
    for (let k = 1; k < clientBytes(s, runs + 1).length; k++) {
      const l = listeners[k % 3]!;
      await check(up, portOf(l), l, { ...s, splits: [k] });
    }
  }, 120_000);
});
