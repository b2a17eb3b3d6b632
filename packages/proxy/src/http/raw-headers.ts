/**
 * Request headers as Node's parser gives them (`rawHeaders`: name, value, name, value...), read
 * without building a header object: one pass to copy what goes upstream, lookups by lower-case
 * name. Hop-by-hop headers, and every header the `Connection` header names, never go upstream.
 */
import type { HeaderGetter } from "@lanecar/core";

/** RFC 9110 §7.6.1 hop-by-hop headers plus the proxy-era ones Envoy also strips. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
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

/** Lengths of the hop-by-hop names: a name of another length needs no lower-casing to rule it out. */
const HOP_BY_HOP_LENGTHS: ReadonlySet<number> = new Set([...HOP_BY_HOP].map((h) => h.length));

/** Value of header `name` (lower-case), repeated values joined with ", ". */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  const n = name.length;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === n && (k === name || k.toLowerCase() === name)) {
      out = out === undefined ? raw[i + 1]! : `${out}, ${raw[i + 1]!}`;
    }
  }
  return out;
}

/** A core `HeaderGetter` over raw headers. */
export function rawHeaderGetter(raw: readonly string[]): HeaderGetter {
  return (name) => rawHeader(raw, name);
}

/** Lower-case tokens of a `Connection` header value (`close`, `keep-alive`, header names). */
export function connectionTokens(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  for (const t of value.split(",")) {
    const tok = t.trim().toLowerCase();
    if (tok) out.push(tok);
  }
  return out;
}

/** `Connection: keep-alive`, the usual value, names no other header: nothing to split. */
function onlyKeepAlive(value: string): boolean {
  return value.length === 10 && (value === "keep-alive" || value.toLowerCase() === "keep-alive");
}

/**
 * Copies raw headers for the upstream request, leaving out hop-by-hop headers, headers named in
 * `Connection`, `host`, `expect` (the listener answers `100-continue` itself), and every name in
 * `drop` (lower-case) — also when sent with `_` for `-`
 * (`x_asm_prefer_tag`), which some servers treat as the same header. Returns a flat name/value
 * array.
 */
export function copyRequestHeaders(raw: readonly string[], drop: ReadonlySet<string> | undefined): string[] {
  const out: string[] = [];
  let conn: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    const lower = k.toLowerCase();
    // Every Connection field counts (a list may be split over several).
    if (lower === "connection" && !onlyKeepAlive(raw[i + 1]!))
      conn = conn ? conn.concat(connectionTokens(raw[i + 1])) : connectionTokens(raw[i + 1]);
    if (HOP_BY_HOP.has(lower) || lower === "host" || lower === "expect" || drop?.has(lower)) continue;
    if (drop && lower.includes("_") && drop.has(lower.replaceAll("_", "-"))) continue;
    out.push(k, raw[i + 1]!);
  }
  if (conn && conn.length > 0) {
    // Headers the client declared hop-by-hop via Connection are removed too.
    let w = 0;
    for (let i = 0; i < out.length; i += 2) {
      if (conn.includes(out[i]!.toLowerCase())) continue;
      out[w++] = out[i]!;
      out[w++] = out[i + 1]!;
    }
    out.length = w;
  }
  return out;
}

/** Removes every header named `name` (lower-case) from a flat array in place. */
export function removeHeader(flat: string[], name: string): void {
  let w = 0;
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i]!.toLowerCase() === name) continue;
    flat[w++] = flat[i]!;
    flat[w++] = flat[i + 1]!;
  }
  flat.length = w;
}

/**
 * Upstream response headers (flat strings, as the parser gives them) with hop-by-hop headers and
 * those the response's `Connection` names removed — in place: the array is the caller's own.
 */
export function copyResponseHeaders(raw: string[]): string[] {
  let conn: string[] | undefined;
  let w = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    const v = raw[i + 1]!;
    if (HOP_BY_HOP_LENGTHS.has(k.length)) {
      const lower = k.toLowerCase();
      if (lower === "connection" && !onlyKeepAlive(v))
        conn = conn ? conn.concat(connectionTokens(v)) : connectionTokens(v);
      if (HOP_BY_HOP.has(lower)) continue;
    }
    raw[w++] = k;
    raw[w++] = v;
  }
  raw.length = w;
  if (conn) for (const c of conn) removeHeader(raw, c);
  return raw;
}
