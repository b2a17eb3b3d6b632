/**
 * Just enough DER (ITU-T X.690) to write X.509 certificates for `lanecar ca`, and to read the
 * subject of an issuer certificate back: tag-length-value encoding of the handful of ASN.1 types
 * a certificate uses. Parsing and verification of certificates is node:crypto's X509Certificate.
 */

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
export const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
/** `[n]` EXPLICIT (constructed context-specific tag). */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);

export function bool(v: boolean): Buffer {
  return tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
}

/** A non-negative INTEGER from big-endian bytes (minimal, with a 0 byte when the top bit is set). */
export function uint(bytes: Buffer | number): Buffer {
  let b = typeof bytes === "number" ? Buffer.from([bytes]) : bytes;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  b = b.subarray(i);
  return tlv(0x02, (b[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export function utf8(s: string): Buffer {
  return tlv(0x0c, Buffer.from(s, "utf8"));
}

export function octets(b: Buffer): Buffer {
  return tlv(0x04, b);
}

/** A BIT STRING holding whole bytes. */
export function bits(b: Buffer): Buffer {
  return tlv(0x03, Buffer.from([0]), b);
}

/** A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte. */
export function namedBits(bitsSet: readonly number[]): Buffer {
  const top = Math.max(...bitsSet);
  const bytes = Buffer.alloc(Math.floor(top / 8) + 1);
  for (const n of bitsSet) bytes[Math.floor(n / 8)]! |= 0x80 >> (n % 8);
  const unused = 7 - (top % 8);
  return tlv(0x03, Buffer.from([unused]), bytes);
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, "latin1"))
    : tlv(0x18, Buffer.from(`${iso}Z`, "latin1"));
}

/** Reads one TLV at `at`: its tag, where its content starts and where it ends. */
export function readTlv(b: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = b[at]!;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  return { tag, start, end: start + len };
}
