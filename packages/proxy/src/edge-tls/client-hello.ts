/**
 * Reads the server name (SNI) out of a TLS ClientHello before any handshake starts, so the
 * gateway can pick the server — and with it the certificate and whether a client certificate
 * is required — first, as Envoy's tls_inspector does for its filter-chain match. Only the bytes
 * needed are parsed (RFC 8446 §4.1.2, RFC 6066 §3); the handshake itself is OpenSSL's.
 */

/** More bytes are needed before the ClientHello is complete. */
export const INCOMPLETE = 0;
/** Not a TLS ClientHello (plaintext on a TLS port, or garbage). */
export const NOT_TLS = 1;

export interface ClientHello {
  /** The `host_name` of the server_name extension, lower-cased; undefined when none was sent. */
  serverName: string | undefined;
}

/** The largest ClientHello accepted (post-quantum key shares make them a few KiB). */
export const MAX_CLIENT_HELLO = 64 * 1024;

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const SERVER_NAME = 0;
const HOST_NAME = 0;

/**
 * Parses `buf` (the first bytes of a connection). A ClientHello may span several records and
 * TCP segments: INCOMPLETE until all of it is in.
 */
export function parseClientHello(buf: Buffer): ClientHello | typeof INCOMPLETE | typeof NOT_TLS {
  // Records: type(1) version(2) length(2) fragment. Gather handshake bytes across records.
  if (buf.length >= 1 && buf[0] !== HANDSHAKE) return NOT_TLS;
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  for (let at = 0; ; ) {
    if (buf.length < at + 5) return INCOMPLETE;
    if (buf[at] !== HANDSHAKE || buf[at + 1] !== 3) return NOT_TLS;
    const len = buf.readUInt16BE(at + 3);
    if (len === 0 || len > 16384 + 2048) return NOT_TLS;
    if (buf.length < at + 5 + len) return INCOMPLETE;
    parts.push(buf.subarray(at + 5, at + 5 + len));
    have += len;
    at += 5 + len;
    if (need < 0 && have >= 4) {
      const first = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (first[0] !== CLIENT_HELLO) return NOT_TLS;
      need = 4 + first.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO) return NOT_TLS;
    }
    if (need >= 0 && have >= need) break;
  }
  const hs = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return readHello(hs.subarray(4, need));
}

/** The ClientHello body: version(2) random(32) session_id<1> cipher_suites<2> compression<1> extensions<2>. */
function readHello(b: Buffer): ClientHello | typeof NOT_TLS {
  let at = 2 + 32;
  if (b.length < at + 1) return NOT_TLS;
  at += 1 + b[at]!;
  if (b.length < at + 2) return NOT_TLS;
  at += 2 + b.readUInt16BE(at);
  if (b.length < at + 1) return NOT_TLS;
  at += 1 + b[at]!;
  if (at === b.length) return { serverName: undefined }; // no extensions at all
  if (b.length < at + 2) return NOT_TLS;
  const end = at + 2 + b.readUInt16BE(at);
  if (end > b.length) return NOT_TLS;
  for (at += 2; at + 4 <= end; ) {
    const type = b.readUInt16BE(at);
    const len = b.readUInt16BE(at + 2);
    const body = at + 4;
    if (body + len > end) return NOT_TLS;
    if (type === SERVER_NAME) return { serverName: hostName(b.subarray(body, body + len)) };
    at = body + len;
  }
  return { serverName: undefined };
}

/** server_name_list<2>: entries of name_type(1) HostName<2>; the host_name one, if any. */
function hostName(b: Buffer): string | undefined {
  if (b.length < 2) return undefined;
  const end = Math.min(b.length, 2 + b.readUInt16BE(0));
  for (let at = 2; at + 3 <= end; ) {
    const type = b[at]!;
    const len = b.readUInt16BE(at + 1);
    if (at + 3 + len > end) return undefined;
    if (type === HOST_NAME) return b.toString("latin1", at + 3, at + 3 + len).toLowerCase();
    at += 3 + len;
  }
  return undefined;
}
