import { describe, expect, it } from "vitest";
import {
  correlationContext,
  correlationKey,
  DEFAULT_CORRELATION_HEADERS,
  requestCorrelationKey,
  TRACE_ID_CONTEXT,
} from "../../src/index.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

describe("correlationKey", () => {
  it("defaults to x-request-id, the traceparent trace id and x-b3-traceid (SPEC 4)", () => {
    expect([...DEFAULT_CORRELATION_HEADERS]).toEqual(["x-request-id", "traceparent", "x-b3-traceid"]);
  });

  it("uses x-request-id as sent", () => {
    expect(correlationKey("x-request-id", "0e4f6b2c-5d8a-4f0e-9a1b-123456789abc")).toBe(
      "0e4f6b2c-5d8a-4f0e-9a1b-123456789abc",
    );
  });

  it("takes only the trace id of traceparent, so every hop's span id maps to one key", () => {
    const a = correlationKey("traceparent", `00-${TRACE}-00f067aa0ba902b7-01`);
    const b = correlationKey("traceparent", `00-${TRACE}-b7ad6b7169203331-00`);
    expect(a).toBe(TRACE);
    expect(b).toBe(TRACE);
  });

  it("normalizes traceparent case and surrounding space", () => {
    expect(correlationKey("traceparent", ` 00-${TRACE.toUpperCase()}-00F067AA0BA902B7-01 `)).toBe(TRACE);
  });

  it.each([
    ["all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["short trace id", "00-4bf92f3577b34da6-00f067aa0ba902b7-01"],
    ["not hex", `00-${"z".repeat(32)}-00f067aa0ba902b7-01`],
    ["garbage", "hello"],
  ])("rejects a traceparent with %s", (_what, v) => {
    expect(correlationKey("traceparent", v)).toBeUndefined();
  });

  it("pads a 64-bit x-b3-traceid to 128 bits so both widths of one trace agree", () => {
    expect(correlationKey("x-b3-traceid", "a3ce929d0e0e4736")).toBe("0000000000000000a3ce929d0e0e4736");
    expect(correlationKey("x-b3-traceid", TRACE.toUpperCase())).toBe(TRACE);
    expect(correlationKey("x-b3-traceid", "a3ce929d0e0e4736")).toBe(
      correlationKey("x-b3-traceid", "0000000000000000a3ce929d0e0e4736"),
    );
  });

  it.each(["xyz", "a3ce929d0e0e473", "a3ce929d0e0e4736a3ce"])("rejects x-b3-traceid %j", (v) => {
    expect(correlationKey("x-b3-traceid", v)).toBeUndefined();
  });

  it("takes the trace id of the single b3 header", () => {
    expect(correlationKey("b3", `${TRACE}-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90`)).toBe(TRACE);
    expect(correlationKey("b3", "a3ce929d0e0e4736-e457b5a2e4d86bd1-1")).toBe(
      "0000000000000000a3ce929d0e0e4736",
    );
    // b3 and x-b3-traceid of the same trace correlate.
    expect(correlationKey("b3", `${TRACE}-e457b5a2e4d86bd1`)).toBe(correlationKey("x-b3-traceid", TRACE));
  });

  it.each(["0", "1", "d", "not-hex-at-all"])("rejects a b3 header without a trace id (%j)", (v) => {
    expect(correlationKey("b3", v)).toBeUndefined();
  });

  it("has no key for a missing, empty or oversized value (bounded store)", () => {
    expect(correlationKey("x-request-id", undefined)).toBeUndefined();
    expect(correlationKey("x-request-id", "")).toBeUndefined();
    expect(correlationKey("x-request-id", "r".repeat(256))).toBe("r".repeat(256));
    expect(correlationKey("x-request-id", "r".repeat(257))).toBeUndefined();
  });

  it.each(["0000000000000000-e457b5a2e4d86bd1-1", "00000000000000000000000000000000-e457b5a2e4d86bd1"])(
    "rejects the all-zero B3 trace id %j (invalid, as in traceparent)",
    (v) => {
      expect(correlationKey("b3", v)).toBeUndefined();
      expect(correlationKey("x-b3-traceid", v.split("-")[0])).toBeUndefined();
    },
  );
});

describe("one trace id, whichever form carries it (issue 12 item 9)", () => {
  const ID64 = "a3ce929d0e0e4736";
  const WIDE = `0000000000000000${ID64}`;
  const headersOf =
    (h: Record<string, string>) =>
    (n: string): string | undefined =>
      h[n];

  it("the three trace headers share one correlation context; others keep their own", () => {
    expect(correlationContext("traceparent")).toBe(TRACE_ID_CONTEXT);
    expect(correlationContext("b3")).toBe(TRACE_ID_CONTEXT);
    expect(correlationContext("x-b3-traceid")).toBe(TRACE_ID_CONTEXT);
    expect(correlationContext("x-request-id")).toBe("x-request-id");
    expect(correlationContext("x-c1")).toBe("x-c1");
  });

  it("traceparent, single b3 and x-b3-traceid of one trace give one key (64-bit B3 ids left-padded)", () => {
    const keys = [
      correlationKey("traceparent", `00-${WIDE}-00f067aa0ba902b7-01`),
      correlationKey("b3", `${ID64}-e457b5a2e4d86bd1-1`),
      correlationKey("b3", `${WIDE}-e457b5a2e4d86bd1-d-05e3ac9a4f6e3b90`),
      correlationKey("x-b3-traceid", ID64),
      correlationKey("x-b3-traceid", WIDE.toUpperCase()),
    ];
    expect(new Set(keys)).toEqual(new Set([WIDE]));
  });

  it.each([
    ["traceparent", { traceparent: `00-${WIDE}-00f067aa0ba902b7-01` }],
    ["b3", { b3: `${ID64}-e457b5a2e4d86bd1-1` }],
    ["x-b3-traceid", { "x-b3-traceid": ID64, "x-b3-spanid": "e457b5a2e4d86bd1" }],
  ])("a request carrying only %s has the key for every trace context", (_form, h) => {
    for (const ctx of ["traceparent", "b3", "x-b3-traceid"])
      expect(requestCorrelationKey(ctx, headersOf(h))).toBe(WIDE);
  });

  it("reads the context's own header first, then the other trace forms in order", () => {
    const h = headersOf({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01`, b3: `${ID64}-e457b5a2e4d86bd1` });
    expect(requestCorrelationKey("traceparent", h)).toBe(TRACE);
    expect(requestCorrelationKey("b3", h)).toBe(WIDE);
    expect(requestCorrelationKey("x-b3-traceid", h)).toBe(TRACE);
    // An unusable own value falls through to the next form.
    expect(requestCorrelationKey("b3", headersOf({ b3: "1", "x-b3-traceid": ID64 }))).toBe(WIDE);
  });

  it("other contexts read only their own header", () => {
    const h = headersOf({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01` });
    expect(requestCorrelationKey("x-request-id", h)).toBeUndefined();
    expect(requestCorrelationKey("x-request-id", headersOf({ "x-request-id": "r1" }))).toBe("r1");
  });
});
