/**
 * The value a correlation header contributes to the correlation store. Most headers are used
 * as sent; tracing headers contribute only their trace id, because every hop changes the span id.
 */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;

/** Default correlation headers (SPEC section 4). */
export const DEFAULT_CORRELATION_HEADERS = ["x-request-id", "traceparent", "x-b3-traceid"] as const;

/** Normalized key for header `name` with value `value`, or undefined when unusable. */
export function correlationKey(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === "" || value.length > 256) return undefined;
  if (name === "traceparent") {
    const m = TRACEPARENT.exec(value.trim().toLowerCase());
    if (!m || m[1] === "00000000000000000000000000000000") return undefined;
    return m[1];
  }
  if (name === "x-b3-traceid") {
    const v = value.trim().toLowerCase();
    if (!/^[0-9a-f]{16}([0-9a-f]{16})?$/.test(v)) return undefined;
    return v.length === 16 ? `0000000000000000${v}` : v;
  }
  if (name === "b3") {
    const t = value.trim().toLowerCase().split("-")[0] ?? "";
    if (!/^[0-9a-f]{16}([0-9a-f]{16})?$/.test(t)) return undefined;
    return t.length === 16 ? `0000000000000000${t}` : t;
  }
  return value;
}
