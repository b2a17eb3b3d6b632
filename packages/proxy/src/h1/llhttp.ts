/**
 * Node's built-in HTTP/1.1 parser (llhttp, compiled into Node), the one node:http itself runs.
 * Lanecar's own HTTP/1.1 codec (server.ts, client.ts) drives it directly on raw sockets: the same
 * strict parsing as node:http (lenient modes never enabled), without node:http's per-request
 * stream objects or undici's JavaScript/WebAssembly machinery around it.
 *
 * The binding is reached through `_http_common`, which every Node release since 0.x exports.
 * `assertParser()` checks at startup that it behaves as this module expects (see decisions.md).
 */
import { createRequire } from "node:module";

export interface ParseError extends Error {
  code: string;
  bytesParsed: number;
  reason?: string;
}

/** The native parser object (`HTTPParser` in node/src/node_http_parser.cc). */
export interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  /** Bytes consumed, or the parse error. */
  execute(data: Buffer): number | ParseError;
  /** Signals end of input: completes a read-until-close message, or returns the error. */
  finish(): ParseError | undefined;
  close(): void;
  free(): void;
  remove(): void;
  [callback: number]: unknown;
}

interface ParserClass {
  new (): Parser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

interface HttpCommon {
  HTTPParser: ParserClass;
  methods: string[];
}

/** Stands in when the binding cannot be loaded, so this module still loads (fallback data path). */
class Unavailable {
  static REQUEST = 1;
  static RESPONSE = 2;
  static kOnMessageBegin = 0;
  static kOnHeaders = 1;
  static kOnHeadersComplete = 2;
  static kOnBody = 3;
  static kOnMessageComplete = 4;
  static kOnExecute = 5;
  constructor() {
    throw new Error(unavailable);
  }
}

let unavailable = "";

/** `_http_common`, or why it could not be had (a Node that removed it: see DEP0199). */
function loadCommon(): HttpCommon {
  try {
    const c = createRequire(import.meta.url)("_http_common") as Partial<HttpCommon>;
    if (typeof c.HTTPParser === "function" && Array.isArray(c.methods)) return c as HttpCommon;
    unavailable = "_http_common no longer exports HTTPParser and methods";
  } catch (err) {
    unavailable = `_http_common cannot be loaded (${(err as Error).message.split("\n")[0]})`;
  }
  return { HTTPParser: Unavailable as unknown as ParserClass, methods: [] };
}

const common = loadCommon();

export const HTTPParser = common.HTTPParser;
/** Method names by llhttp's method index (the `method` argument of onHeadersComplete). */
export const METHODS: readonly string[] = common.methods;

export const REQUEST = HTTPParser.REQUEST;
export const RESPONSE = HTTPParser.RESPONSE;
export const kOnMessageBegin = HTTPParser.kOnMessageBegin | 0;
export const kOnHeaders = HTTPParser.kOnHeaders | 0;
export const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
export const kOnBody = HTTPParser.kOnBody | 0;
export const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;
export const kOnExecute = HTTPParser.kOnExecute | 0;

/** Strict mode: no lenient flag, ever (they are how smuggling gets in). */
export const STRICT = 0;

/** onHeadersComplete(versionMajor, versionMinor, headers, method, url, statusCode, statusMessage, upgrade, shouldKeepAlive). */
export type OnHeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  statusCode: number,
  statusMessage: string,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

const free: Parser[] = [];
const MAX_FREE = 1000;

function noop(): void {}

/** A parser of `type` from the free list (or new), initialized strict with `maxHeaderSize`. */
export function allocParser(type: number, maxHeaderSize: number): Parser {
  const p = free.pop() ?? new HTTPParser();
  p.initialize(type, {}, maxHeaderSize, STRICT);
  return p;
}

/** Returns a parser to the free list. Never call from inside one of its own callbacks. */
export function releaseParser(p: Parser): void {
  p[kOnMessageBegin] = noop;
  p[kOnHeaders] = noop;
  p[kOnHeadersComplete] = noop;
  p[kOnBody] = noop;
  p[kOnMessageComplete] = noop;
  p.remove();
  if (free.length < MAX_FREE) {
    p.free();
    free.push(p);
  } else setImmediate(() => p.close());
}

/**
 * Checks the binding behaves as this codec relies on (callback indices, header and method
 * arguments, strictness). Throws with a clear message otherwise, so an incompatible Node fails
 * at startup instead of on traffic.
 */
export function assertParser(): void {
  const problem = parserProblem();
  if (problem) throw new Error(problem);
}

/** Why this Node's parser binding cannot serve Lanecar's codec, or undefined when it can. */
export function parserProblem(): string | undefined {
  if (unavailable) return `this Node (${process.version}) has no usable HTTP parser binding: ${unavailable}`;
  try {
    checkParser();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function checkParser(): void {
  const p = new HTTPParser();
  p.initialize(REQUEST, {}, 0, STRICT);
  let seen = "";
  p[kOnHeadersComplete] = ((_ma, mi, headers, method, url) => {
    seen = `${METHODS[method]} ${url} 1.${mi} ${headers?.join("=")}`;
    return 0;
  }) satisfies OnHeadersComplete;
  p[kOnMessageComplete] = () => {
    seen += " done";
  };
  const input = Buffer.from("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  const ok = p.execute(input);
  const bad = new HTTPParser();
  bad.initialize(REQUEST, {}, 0, STRICT);
  const lf = bad.execute(Buffer.from("GET / HTTP/1.1\nHost: a\n\n"));
  p.close();
  bad.close();
  if (ok !== input.length || seen !== "GET /x 1.1 Host=a done" || typeof lf === "number") {
    throw new Error(
      `this Node (${process.version}) has an HTTP parser binding that behaves differently from what Lanecar's codec relies on`,
    );
  }
}
