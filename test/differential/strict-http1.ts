/**
 * An independent, deliberately strict HTTP/1.1 message parser for the differential test: it
 * reads what a client sent, what an upstream received and what the client got back, and refuses
 * anything RFC 9112 does not allow instead of guessing. Written from the RFC for this test (not
 * llhttp, not node:http), so a bug shared with the proxy's parser cannot hide a difference.
 *
 * CRLF line ends only; token methods and field names; no whitespace before a colon, no
 * obs-fold, no CTLs in values; one framing per message (a single Content-Length of digits, or
 * Transfer-Encoding exactly `chunked`, never both); chunk sizes in hex with optional extensions;
 * trailer fields kept apart from the header fields. Responses to HEAD, 1xx, 204 and 304 carry no
 * body; a response with neither framing runs to the end of the connection.
 */

export type Fields = [string, string][];

export interface Message {
  version: "1.0" | "1.1";
  /** Requests. */
  method: string;
  target: string;
  /** Responses. */
  status: number;
  reason: string;
  headers: Fields;
  trailers: Fields;
  body: Buffer;
  /** How the body was framed on the wire. */
  framing: "none" | "length" | "chunked" | "close";
}

export type Step =
  | { kind: "message"; message: Message; used: number }
  | { kind: "incomplete" }
  | { kind: "error"; reason: string };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;
const TARGET = /^[\x21-\x7e]+$/;
const CHUNK_LINE =
  /^([0-9A-Fa-f]{1,16})((?:;[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"[^"\\\r\n]*"))?)*)$/;
const MAX_HEAD = 128 * 1024;

function fail(reason: string): Step {
  return { kind: "error", reason };
}

/** All values of field `name` (any case). */
export function values(fields: Fields, name: string): string[] {
  const n = name.toLowerCase();
  return fields.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** Parses field lines (`name: value`) into `out`; an error string if one is malformed. */
function parseFields(lines: string[], out: Fields): string | undefined {
  for (const line of lines) {
    if (line.startsWith(" ") || line.startsWith("\t")) return "obs-fold";
    const colon = line.indexOf(":");
    if (colon <= 0) return `bad field line ${JSON.stringify(line)}`;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return `bad field name ${JSON.stringify(name)}`;
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!VALUE.test(value)) return `bad value of ${name}`;
    out.push([name, value]);
  }
  return undefined;
}

/**
 * Parses one message from the start of `buf`. `side` says which kind; for a response,
 * `requestMethod` is the method it answers and `eof` whether the connection has ended (a
 * close-delimited body is complete only then).
 */
export function parseMessage(
  buf: Buffer,
  side: "request" | "response",
  requestMethod = "GET",
  eof = false,
): Step {
  const headEnd = buf.indexOf("\r\n\r\n", 0, "latin1");
  if (headEnd < 0) {
    if (buf.length > MAX_HEAD) return fail("head too large");
    if (/\n(?<!\r\n)|\r(?!\n|$)/.test(buf.toString("latin1"))) return fail("bare CR or LF");
    return eof && buf.length > 0 ? fail("connection ended inside a head") : { kind: "incomplete" };
  }
  const head = buf.toString("latin1", 0, headEnd);
  if (/\n(?<!\r\n)|\r(?!\n)/.test(head)) return fail("bare CR or LF in the head");
  const lines = head.split("\r\n");
  const m: Message = {
    version: "1.1",
    method: "",
    target: "",
    status: 0,
    reason: "",
    headers: [],
    trailers: [],
    body: Buffer.alloc(0),
    framing: "none",
  };
  const first = lines[0]!;
  if (side === "request") {
    const r = /^([^ ]+) ([^ ]+) HTTP\/1\.([01])$/.exec(first);
    if (!r || !TOKEN.test(r[1]!) || !TARGET.test(r[2]!))
      return fail(`bad request line ${JSON.stringify(first)}`);
    m.method = r[1]!;
    m.target = r[2]!;
    m.version = r[3] === "0" ? "1.0" : "1.1";
  } else {
    const r = /^HTTP\/1\.([01]) ([1-9]\d\d) ([\t\x20-\x7e\x80-\xff]*)$/.exec(first);
    if (!r) return fail(`bad status line ${JSON.stringify(first)}`);
    m.version = r[1] === "0" ? "1.0" : "1.1";
    m.status = Number(r[2]);
    m.reason = r[3]!;
  }
  const bad = parseFields(lines.slice(1), m.headers);
  if (bad) return fail(bad);
  const te = values(m.headers, "transfer-encoding");
  const cl = values(m.headers, "content-length");
  let at = headEnd + 4;
  const noBody =
    side === "response" &&
    (requestMethod === "HEAD" || m.status < 200 || m.status === 204 || m.status === 304);
  if (noBody) return { kind: "message", message: m, used: at };
  if (te.length > 0) {
    if (cl.length > 0) return fail("Content-Length with Transfer-Encoding");
    if (te.length !== 1 || te[0] !== "chunked") return fail(`Transfer-Encoding ${JSON.stringify(te)}`);
    if (m.version === "1.0") return fail("Transfer-Encoding on HTTP/1.0");
    m.framing = "chunked";
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf("\r\n", at, "latin1");
      if (eol < 0) return eof ? fail("connection ended inside a chunk line") : { kind: "incomplete" };
      const line = buf.toString("latin1", at, eol);
      const c = CHUNK_LINE.exec(line);
      if (!c) return fail(`bad chunk line ${JSON.stringify(line)}`);
      const size = Number.parseInt(c[1]!, 16);
      at = eol + 2;
      if (size === 0) {
        const tEnd = buf.indexOf("\r\n", at, "latin1");
        if (tEnd < 0) return eof ? fail("connection ended inside trailers") : { kind: "incomplete" };
        if (tEnd === at) at += 2;
        else {
          const end = buf.indexOf("\r\n\r\n", at, "latin1");
          if (end < 0) return eof ? fail("connection ended inside trailers") : { kind: "incomplete" };
          const tBad = parseFields(buf.toString("latin1", at, end).split("\r\n"), m.trailers);
          if (tBad) return fail(`trailer: ${tBad}`);
          at = end + 4;
        }
        m.body = Buffer.concat(parts);
        return { kind: "message", message: m, used: at };
      }
      if (buf.length < at + size + 2)
        return eof ? fail("connection ended inside a chunk") : { kind: "incomplete" };
      parts.push(buf.subarray(at, at + size));
      if (buf[at + size] !== 13 || buf[at + size + 1] !== 10) return fail("chunk data not followed by CRLF");
      at += size + 2;
    }
  }
  if (cl.length > 0) {
    if (cl.length !== 1 || !/^\d{1,15}$/.test(cl[0]!)) return fail(`Content-Length ${JSON.stringify(cl)}`);
    const n = Number(cl[0]);
    if (buf.length < at + n) return eof ? fail("connection ended inside a body") : { kind: "incomplete" };
    m.framing = "length";
    m.body = Buffer.from(buf.subarray(at, at + n));
    return { kind: "message", message: m, used: at + n };
  }
  if (side === "request") return { kind: "message", message: m, used: at };
  // A response with neither framing: its body is the rest of the connection.
  if (!eof) return { kind: "incomplete" };
  m.framing = "close";
  m.body = Buffer.from(buf.subarray(at));
  return { kind: "message", message: m, used: buf.length };
}

/**
 * Parses a whole byte stream into messages. For responses, `methods` are the methods of the
 * requests answered, in order; interim (1xx) responses are returned too. Throws on an error or
 * on bytes left over that are not a complete message.
 */
export function parseAll(
  buf: Buffer,
  side: "request" | "response",
  methods: readonly string[] = [],
  eof = true,
): Message[] {
  const out: Message[] = [];
  let finals = 0;
  let at = 0;
  while (at < buf.length) {
    const rest = buf.subarray(at);
    const step = parseMessage(rest, side, methods[finals] ?? "GET", eof);
    if (step.kind === "error") throw new Error(`${side} ${out.length}: ${step.reason}`);
    if (step.kind === "incomplete") {
      throw new Error(
        `${side} ${out.length}: incomplete, ${JSON.stringify(rest.toString("latin1").slice(0, 200))}`,
      );
    }
    out.push(step.message);
    if (side === "request" || step.message.status >= 200) finals++;
    at += step.used;
  }
  return out;
}
