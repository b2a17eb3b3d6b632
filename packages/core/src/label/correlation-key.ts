/**
 * The value a correlation header contributes to the correlation store. Most headers are used
 * as sent; tracing headers contribute only their trace id, because every hop changes the span id.
 *
 * The three tracing forms (`traceparent`, the single `b3` header, `x-b3-traceid`) are one
 * correlation context: an app instrumented with B3 and a caller speaking W3C carry the same trace
 * id in different headers, and the record must be found whichever form the app forwards. So a
 * trace id is normalized to 32 lower-case hex digits (a 64-bit B3 id is left-padded with zeros,
 * as OpenTelemetry's B3 propagator widens it) and stored under {@link TRACE_ID_CONTEXT}.
 */
import type { HeaderGetter } from "./resolver.js";

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;
const B3_TRACE_ID = /^[0-9a-f]{16}([0-9a-f]{16})?$/;
const ZERO_TRACE_ID = "00000000000000000000000000000000";

/** Default correlation headers (SPEC section 4). */
export const DEFAULT_CORRELATION_HEADERS = ["x-request-id", "traceparent", "x-b3-traceid"] as const;

/** The headers that carry a trace id, in the order an outbound request is read. */
export const TRACE_ID_HEADERS = ["traceparent", "b3", "x-b3-traceid"] as const;

/** The one correlation context every trace-id header maps to. */
export const TRACE_ID_CONTEXT = "trace-id";

/** Whether header `name` carries a trace id (one of {@link TRACE_ID_HEADERS}). */
export function isTraceIdHeader(name: string): boolean {
  return name === "traceparent" || name === "b3" || name === "x-b3-traceid";
}

/** The store context of correlation header `name`: the trace-id headers share one. */
export function correlationContext(name: string): string {
  return isTraceIdHeader(name) ? TRACE_ID_CONTEXT : name;
}

/** A B3 trace id (16 or 32 hex digits) as 32 lower-case hex digits, or undefined. */
function b3TraceId(v: string): string | undefined {
  if (!B3_TRACE_ID.test(v)) return undefined;
  const id = v.length === 16 ? `0000000000000000${v}` : v;
  return id === ZERO_TRACE_ID ? undefined : id;
}

/** Normalized key for header `name` with value `value`, or undefined when unusable. */
export function correlationKey(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === "" || value.length > 256) return undefined;
  if (name === "traceparent") {
    const m = TRACEPARENT.exec(value.trim().toLowerCase());
    if (!m || m[1] === ZERO_TRACE_ID) return undefined;
    return m[1];
  }
  if (name === "x-b3-traceid") return b3TraceId(value.trim().toLowerCase());
  if (name === "b3") {
    // `{TraceId}-{SpanId}[-{Sampled}[-{ParentSpanId}]]`, or only a sampling state (`0`, `1`, `d`).
    const v = value.trim().toLowerCase();
    const dash = v.indexOf("-");
    return dash < 0 ? undefined : b3TraceId(v.slice(0, dash));
  }
  return value;
}

/**
 * The key a request carries for correlation context `ctx`: the header itself, or for a trace-id
 * header the trace id of whichever trace form the request has (`ctx`'s own first).
 */
export function requestCorrelationKey(ctx: string, header: HeaderGetter): string | undefined {
  const own = correlationKey(ctx, header(ctx));
  if (own !== undefined || !isTraceIdHeader(ctx)) return own;
  for (let i = 0; i < TRACE_ID_HEADERS.length; i++) {
    const h = TRACE_ID_HEADERS[i]!;
    if (h === ctx) continue;
    const k = correlationKey(h, header(h));
    if (k !== undefined) return k;
  }
  return undefined;
}
