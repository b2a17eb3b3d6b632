/**
 * A deliberately strict HTTP/1.1 request parser for the recording upstream: what a proxy sends
 * upstream must parse here as a sequence of complete, valid requests. It accepts only CRLF line
 * ends, token methods and header names, no whitespace before a colon, no obs-fold, no CTLs in
 * values, a single framing (one Content-Length, or Transfer-Encoding exactly `chunked`, never
 * both) and well-formed chunks. Anything else is an error, never a guess.
 */

export interface ParsedRequest {
  method: string;
  target: string;
  headers: [string, string][];
  body: Buffer;
}

export type ParseStep =
  | { kind: "request"; request: ParsedRequest; used: number }
  | { kind: "incomplete" }
  | { kind: "error"; reason: string };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, SP, HTAB and obs-text; no other CTLs.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e]+$/;

function indexOfCrlf(buf: Buffer, from: number): number {
  return buf.indexOf("\r\n", from, "latin1");
}

/** Parses one request from the start of `buf`. */
export function parseRequest(buf: Buffer): ParseStep {
  const headEnd = buf.indexOf("\r\n\r\n", 0, "latin1");
  if (headEnd < 0) {
    if (buf.length > 256 * 1024) return { kind: "error", reason: "header section too large" };
    // A bare LF or CR in what arrived is already an error.
    const text = buf.toString("latin1");
    if (/[^\r]\n|^\n|\r[^\n]/.test(text)) return { kind: "error", reason: "bare CR or LF" };
    return { kind: "incomplete" };
  }
  const head = buf.subarray(0, headEnd).toString("latin1");
  if (/[^\r]\n|^\n|\r[^\n]/.test(`${head}\r\n`)) return { kind: "error", reason: "bare CR or LF" };
  const lines = head.split("\r\n");
  const m = /^([^ ]+) ([^ ]+) HTTP\/1\.1$/.exec(lines[0]!);
  if (!m || !TOKEN.test(m[1]!) || !TARGET.test(m[2]!))
    return { kind: "error", reason: `bad request line ${JSON.stringify(lines[0])}` };
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith(" ") || line.startsWith("\t")) return { kind: "error", reason: "obs-fold" };
    const colon = line.indexOf(":");
    if (colon <= 0) return { kind: "error", reason: `bad header line ${JSON.stringify(line)}` };
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!TOKEN.test(name)) return { kind: "error", reason: `bad header name ${JSON.stringify(name)}` };
    if (!FIELD_VALUE.test(value)) return { kind: "error", reason: `bad value of ${name}` };
    headers.push([name, value]);
  }
  const all = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  if (all("host").length !== 1) return { kind: "error", reason: "not exactly one Host" };
  const te = all("transfer-encoding");
  const cl = all("content-length");
  let at = headEnd + 4;
  if (te.length > 0) {
    if (cl.length > 0) return { kind: "error", reason: "Content-Length with Transfer-Encoding" };
    if (te.length !== 1 || te[0]!.toLowerCase() !== "chunked")
      return { kind: "error", reason: `Transfer-Encoding ${JSON.stringify(te)}` };
    const parts: Buffer[] = [];
    for (;;) {
      const eol = indexOfCrlf(buf, at);
      if (eol < 0)
        return buf.length - at > 1024 ? { kind: "error", reason: "chunk line" } : { kind: "incomplete" };
      const sizeLine = buf.subarray(at, eol).toString("latin1");
      const sm = /^([0-9A-Fa-f]{1,8})(;[!#$%&'*+.^_`|~0-9A-Za-z-]+(=[!#$%&'*+.^_`|~0-9A-Za-z-]+)?)*$/.exec(
        sizeLine,
      );
      if (!sm) return { kind: "error", reason: `bad chunk size line ${JSON.stringify(sizeLine)}` };
      const size = Number.parseInt(sm[1]!, 16);
      at = eol + 2;
      if (size === 0) {
        // Trailer section, then CRLF.
        for (;;) {
          const tl = indexOfCrlf(buf, at);
          if (tl < 0) return { kind: "incomplete" };
          const line = buf.subarray(at, tl).toString("latin1");
          at = tl + 2;
          if (line === "") break;
          if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/.test(line)) return { kind: "error", reason: "bad trailer" };
        }
        return {
          kind: "request",
          request: { method: m[1]!, target: m[2]!, headers, body: Buffer.concat(parts) },
          used: at,
        };
      }
      if (buf.length < at + size + 2) return { kind: "incomplete" };
      parts.push(buf.subarray(at, at + size));
      if (buf[at + size] !== 13 || buf[at + size + 1] !== 10)
        return { kind: "error", reason: "chunk not ended by CRLF" };
      at += size + 2;
    }
  }
  let length = 0;
  if (cl.length > 0) {
    if (cl.length !== 1 || !/^\d{1,15}$/.test(cl[0]!))
      return { kind: "error", reason: `Content-Length ${JSON.stringify(cl)}` };
    length = Number(cl[0]);
  }
  if (buf.length < at + length) return { kind: "incomplete" };
  return {
    kind: "request",
    request: { method: m[1]!, target: m[2]!, headers, body: Buffer.from(buf.subarray(at, at + length)) },
    used: at + length,
  };
}

/** Value of header `name` (any case) of a parsed request, repeated values joined with ", ". */
export function header(r: ParsedRequest, name: string): string | undefined {
  const v = r.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, x]) => x);
  return v.length === 0 ? undefined : v.join(", ");
}
