/**
 * Generated client conversations for the differential test: requests (HTTP/1.0 and 1.1, bodies
 * by Content-Length or chunked with extensions and trailers, Expect: 100-continue, hop-by-hop
 * headers, keep-alive then close) with the response the upstream gives each, how the client's
 * bytes are split into writes, and the wire bytes of both.
 */
import fc from "fast-check";
import type { Fields } from "./strict-http1.js";

export interface Chunk {
  data: string;
  ext: string;
}

export type BodySpec =
  | { kind: "none" }
  | { kind: "length"; data: string }
  | { kind: "chunked"; chunks: Chunk[]; lastExt: string; trailers: Fields };

export interface RequestSpec {
  method: string;
  version: "1.0" | "1.1";
  /** After `/d/<run>/<index>`. */
  suffix: string;
  headers: Fields;
  /** `Connection` names a header (`x-g-hop`), plus Keep-Alive and TE: none may reach the upstream. */
  hop: boolean;
  requestId: string | undefined;
  expect: boolean;
  /** The target in absolute form (`http://up:9080/d/...`), as a client of a proxy sends it. */
  absolute: boolean;
  body: BodySpec;
}

export interface ResponseSpec {
  status: number;
  reason: string;
  headers: Fields;
  /** `close`: no framing, the upstream closes the connection after the body. */
  framing: "length" | "chunked" | "close";
  body: string;
  chunkExt: string;
  trailers: Fields;
  hop: boolean;
}

export interface Exchange {
  request: RequestSpec;
  response: ResponseSpec;
}

export interface Scenario {
  exchanges: Exchange[];
  /** Byte offsets where the client's stream is cut into separate writes. */
  splits: number[] | "every-byte";
}

const tokenChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-".split(""));
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 8 });
const valueChar = fc.constantFrom(..."abcXYZ019 ,;=/:\"'()!~*+.%".split(""));
/** A field value: no leading or trailing whitespace (a parser trims it). */
const fieldValue = fc.string({ unit: valueChar, minLength: 0, maxLength: 16 }).map((v) => v.trim());
const field = fc.tuple(
  token.map((t) => `X-G-${t}`),
  fieldValue,
);
const bodyData = fc.string({ unit: fc.constantFrom(..."ab\r\n0;:x ".split("")), maxLength: 40 });
const ext = fc.constantFrom("", ";a", ";a=b", ';name="q v"', ";x=1;y");
const pathChar = fc.constantFrom(..."abz09-._~!$&'()*+,;=:@/%".split(""));

const requestArb: fc.Arbitrary<RequestSpec> = fc
  .record({
    method: fc.constantFrom("GET", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"),
    version: fc.constantFrom<"1.0" | "1.1">("1.1", "1.1", "1.1", "1.0"),
    suffix: fc.oneof(
      fc.constant(""),
      fc.string({ unit: pathChar, maxLength: 12 }).map((p) => `/${p.replaceAll("%", "%25")}`),
      fc.string({ unit: pathChar, maxLength: 12 }).map((q) => `?q=${q.replaceAll("%", "%25")}`),
    ),
    headers: fc.array(field, { maxLength: 4 }),
    hop: fc.boolean(),
    requestId: fc.option(
      token.map((t) => `rid-${t}`),
      { nil: undefined },
    ),
    expect: fc.boolean(),
    absolute: fc.boolean(),
    bodyKind: fc.constantFrom("length", "chunked", "chunked"),
    data: bodyData,
    chunks: fc.array(fc.record({ data: bodyData.filter((d) => d.length > 0), ext }), { maxLength: 4 }),
    lastExt: ext,
    trailers: fc.array(field, { maxLength: 2 }),
  })
  .map((r) => {
    const withBody = r.method === "POST" || r.method === "PUT" || r.method === "PATCH";
    let body: BodySpec = { kind: "none" };
    if (withBody) {
      body =
        r.bodyKind === "length" || r.version === "1.0"
          ? { kind: "length", data: r.data }
          : { kind: "chunked", chunks: r.chunks, lastExt: r.lastExt, trailers: r.trailers };
    }
    return {
      method: r.method,
      version: r.version,
      suffix: r.suffix,
      headers: r.headers,
      hop: r.hop,
      requestId: r.requestId,
      expect: r.expect && withBody && r.version === "1.1",
      absolute: r.absolute,
      body,
    };
  });

const STATUSES: [number, string][] = [
  [200, "OK"],
  [201, "Created"],
  [204, "No Content"],
  [301, "Moved Permanently"],
  [304, "Not Modified"],
  [404, "Not Found"],
  [418, "I'm a teapot"],
];

const responseArb: fc.Arbitrary<ResponseSpec> = fc
  .record({
    status: fc.constantFrom(...STATUSES).map(([s]) => s),
    reason: fc.constant(""),
    headers: fc.array(field, { maxLength: 3 }),
    framing: fc.constantFrom<"length" | "chunked" | "close">("length", "chunked", "close"),
    body: bodyData,
    chunkExt: ext,
    trailers: fc.array(field, { maxLength: 2 }),
    hop: fc.boolean(),
  })
  .map((r) => ({ ...r, reason: STATUSES.find(([s]) => s === r.status)![1] }));

export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  exchanges: fc.array(fc.record({ request: requestArb, response: responseArb }), {
    minLength: 1,
    maxLength: 4,
  }),
  splits: fc.oneof(
    { weight: 8, arbitrary: fc.array(fc.nat({ max: 4000 }), { maxLength: 6 }) },
    { weight: 1, arbitrary: fc.constant<"every-byte">("every-byte") },
  ),
});

/** The client's bytes for a scenario (run `run`): every request; the last one closes. */
export function clientBytes(s: Scenario, run: number): string {
  return s.exchanges.map((e, i) => requestBytes(e.request, run, i, i === s.exchanges.length - 1)).join("");
}

/** What an absolute-form target has before the origin form. */
export const ABSOLUTE_PREFIX = "http://up:9080";

export function requestTarget(run: number, i: number, r: RequestSpec): string {
  return `/d/${run}/${i}${r.suffix}`;
}

function requestBytes(r: RequestSpec, run: number, i: number, last: boolean): string {
  const target = `${r.absolute ? ABSOLUTE_PREFIX : ""}${requestTarget(run, i, r)}`;
  let out = `${r.method} ${target} HTTP/${r.version}\r\nHost: up:9080\r\n`;
  for (const [k, v] of r.headers) out += `${k}: ${v}\r\n`;
  if (r.requestId) out += `x-request-id: ${r.requestId}\r\n`;
  const conn: string[] = [];
  if (last) {
    if (r.version === "1.1") conn.push("close");
  } else if (r.version === "1.0") conn.push("keep-alive");
  if (r.hop) {
    conn.push("x-g-hop");
    out += "x-g-hop: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n";
  }
  if (conn.length > 0) out += `Connection: ${conn.join(", ")}\r\n`;
  if (r.expect) out += "Expect: 100-continue\r\n";
  const b = r.body;
  if (b.kind === "length")
    return `${out}Content-Length: ${Buffer.byteLength(b.data, "latin1")}\r\n\r\n${b.data}`;
  if (b.kind === "chunked") {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    for (const c of b.chunks) out += `${c.data.length.toString(16)}${c.ext}\r\n${c.data}\r\n`;
    out += `0${b.lastExt}\r\n`;
    for (const [k, v] of b.trailers) out += `${k}: ${v}\r\n`;
    return `${out}\r\n`;
  }
  return `${out}\r\n`;
}

/** Statuses and methods whose responses carry no body. */
export function responseHasBody(method: string, status: number): boolean {
  return method !== "HEAD" && status !== 204 && status !== 304 && status >= 200;
}

/** The upstream's bytes for `res`, answering a request with `method`. */
export function responseBytes(res: ResponseSpec, method: string): string {
  let out = `HTTP/1.1 ${res.status} ${res.reason}\r\n`;
  for (const [k, v] of res.headers) out += `${k}: ${v}\r\n`;
  if (res.hop) out += "Connection: x-g-secret\r\nx-g-secret: 1\r\nProxy-Authenticate: Basic\r\n";
  // A server that closes after this response says so (RFC 9112 §9.6). Closing without saying so
  // is the keep-alive race a client cannot win for a request it must not send twice.
  if (res.framing === "close") out += "Connection: close\r\n";
  const bodyAllowed = res.status !== 204 && res.status !== 304;
  if (!bodyAllowed) return `${out}\r\n`;
  const send = method !== "HEAD";
  if (res.framing === "length") {
    out += `Content-Length: ${res.body.length}\r\n\r\n`;
    return send ? out + res.body : out;
  }
  if (res.framing === "chunked") {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    if (!send) return out;
    if (res.body.length > 0) out += `${res.body.length.toString(16)}${res.chunkExt}\r\n${res.body}\r\n`;
    out += "0\r\n";
    for (const [k, v] of res.trailers) out += `${k}: ${v}\r\n`;
    return `${out}\r\n`;
  }
  return send ? `${out}\r\n${res.body}` : `${out}\r\n`;
}

/** Cuts `bytes` at the scenario's split points (or before every byte). */
export function cut(bytes: Buffer, splits: Scenario["splits"]): Buffer[] {
  if (splits === "every-byte") return [...bytes].map((b) => Buffer.from([b]));
  const at = [...new Set(splits.map((s) => s % (bytes.length + 1)))].filter((s) => s > 0 && s < bytes.length);
  at.sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const s of at) {
    parts.push(bytes.subarray(prev, s));
    prev = s;
  }
  parts.push(bytes.subarray(prev));
  return parts;
}
