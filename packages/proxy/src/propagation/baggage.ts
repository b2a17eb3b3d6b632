/**
 * W3C Baggage member editing that leaves every other member byte for byte as it was.
 * Limits are the W3C Baggage spec's (§3.3.1): at most 180 list-members and 8192 bytes; a change
 * that would exceed them is not made.
 */

/** W3C Baggage §3.3.1: maximum number of list-members. */
export const BAGGAGE_MAX_MEMBERS = 180;
/** W3C Baggage §3.3.1: maximum total size in bytes. */
export const BAGGAGE_MAX_BYTES = 8192;

function memberKey(member: string): string {
  const eq = member.indexOf("=");
  return (eq < 0 ? member : member.slice(0, eq)).trim();
}

/** Percent-encodes a value as the W3C baggage-octet rules require. */
export function encodeBaggageValue(v: string): string {
  return encodeURIComponent(v);
}

export function getBaggageMember(header: string | undefined, key: string): string | undefined {
  if (!header) return undefined;
  for (const m of header.split(",")) {
    if (memberKey(m) !== key) continue;
    const eq = m.indexOf("=");
    if (eq < 0) return undefined;
    const v = m
      .slice(eq + 1)
      .split(";")[0]!
      .trim();
    try {
      return decodeURIComponent(v);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** `key` as a lane label name would read it: lower case, `_` for `-`. */
function looseKey(key: string): string {
  return key.toLowerCase().replaceAll("_", "-");
}

/**
 * Removes every member named `key`; other members keep their exact bytes. With `variants`,
 * `key` (a lower-case label name) also matches in any case or with `_` for `-` — the spellings
 * a client could use to smuggle a lane past a reader that normalizes keys.
 */
export function removeBaggageMember(header: string, key: string, variants = false): string {
  const parts = header.split(",");
  const kept = parts.filter((m) => (variants ? looseKey(memberKey(m)) : memberKey(m)) !== key);
  if (kept.length === parts.length) return header;
  return kept.join(",").replace(/^\s+/, "");
}

/** Removes every variant spelling of `key` (see removeBaggageMember). */
export function removeBaggageMemberVariants(header: string, key: string): string {
  return removeBaggageMember(header, key, true);
}

/**
 * Sets member `key=value` (replacing every member with that key, or appending). Returns the
 * header unchanged when the result would break the W3C limits.
 */
export function setBaggageMember(header: string | undefined, key: string, value: string): string {
  const member = `${key}=${encodeBaggageValue(value)}`;
  if (!header || header.trim() === "") return member;
  const parts = header.split(",");
  let replaced = false;
  const out: string[] = [];
  for (const m of parts) {
    if (memberKey(m) === key) {
      if (!replaced) {
        // Keep the original leading whitespace so the list reads as before.
        const lead = /^\s*/.exec(m)![0];
        out.push(lead + member);
        replaced = true;
      }
      continue;
    }
    out.push(m);
  }
  if (!replaced) out.push(member);
  const next = out.join(",");
  if (out.length > BAGGAGE_MAX_MEMBERS || Buffer.byteLength(next) > BAGGAGE_MAX_BYTES) return header;
  return next;
}
