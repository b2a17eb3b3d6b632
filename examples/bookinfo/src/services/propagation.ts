/**
 * What a Bookinfo app forwards to the services it calls: the trace headers and `end-user`,
 * exactly like the real Bookinfo apps (which know nothing about lanes). Never the lane header
 * (`x-asm-prefer-tag`) and never `baggage`: carrying the lane across hops is the sidecar's job,
 * and it finds the lane again from `x-request-id` / the trace id.
 */
import type { IncomingHttpHeaders } from "node:http";

export const TRACE_HEADERS = [
  "x-request-id",
  "traceparent",
  "tracestate",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-b3-sampled",
  "x-b3-flags",
  "b3",
] as const;

/** The header productpage derives from the signed-in user (cookie `user`) when the client did not send it. */
export const END_USER = "end-user";

export const FORWARDED_HEADERS: readonly string[] = [...TRACE_HEADERS, END_USER];

/** The headers of an inbound request to copy onto each outbound call (first value of each). */
export function forwardedHeaders(inbound: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const v = inbound[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && value !== "") out[name] = value;
  }
  return out;
}
