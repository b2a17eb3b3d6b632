import {
  type CorrelationRecord,
  correlationKey,
  DEFAULT_CORRELATION_HEADERS,
  LabelResolver,
  parseValueFrom,
  type ValueSource,
} from "@lanecar/core";
import { describe, expect, it } from "vitest";
import {
  CorrelationStore,
  DEFAULT_CORRELATION_MAX_BYTES,
  DEFAULT_CORRELATION_MAX_ENTRIES,
  DEFAULT_CORRELATION_TTL_MS,
  entryBytes,
  MAX_RECORD_HEADERS,
  MAX_RECORD_VALUE_LENGTH,
  recordInbound,
} from "../../src/correlation/index.js";

const rec = (lane: string, headers: Record<string, string> = {}): CorrelationRecord => ({
  headers,
  labels: { "x-asm-prefer-tag": lane },
});

/** A hand-driven clock; starts above zero so a zero timestamp is never mistaken for "unset". */
function clock() {
  const c = { t: 1_000, now: () => c.t };
  return c;
}

function source(text: string): ValueSource {
  const s = parseValueFrom(text);
  if ("error" in s) throw new Error(s.error);
  return s;
}

const headersOf =
  (h: Record<string, string>) =>
  (name: string): string | undefined =>
    h[name];

describe("CorrelationStore", () => {
  it("defaults to 100 000 entries and 60 s (SPEC section 4)", () => {
    const s = new CorrelationStore();
    expect(s.maxEntries).toBe(DEFAULT_CORRELATION_MAX_ENTRIES);
    expect(s.maxEntries).toBe(100_000);
    expect(s.ttlMs).toBe(DEFAULT_CORRELATION_TTL_MS);
    expect(s.ttlMs).toBe(60_000);
  });

  it("rejects nonsensical bounds at construction", () => {
    expect(() => new CorrelationStore({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new CorrelationStore({ ttlMs: -1 })).toThrow(RangeError);
    expect(() => new CorrelationStore({ maxEntries: 1.5 })).toThrow(RangeError);
  });

  it("finds a record under the header and key it was recorded with, and nothing else", () => {
    const s = new CorrelationStore();
    const r = rec("gray");
    s.record("x-request-id", "abc", r);
    expect(s.lookup("x-request-id", "abc")).toBe(r);
    expect(s.lookup("x-request-id", "abd")).toBeUndefined();
    expect(s.lookup("traceparent", "abc")).toBeUndefined();
  });

  it("lookup works detached from the store (bound property)", () => {
    const s = new CorrelationStore();
    s.record("x-request-id", "r1", rec("gray"));
    const { lookup } = s;
    expect(lookup("x-request-id", "r1")?.labels["x-asm-prefer-tag"]).toBe("gray");
  });

  it("counts hits and misses", () => {
    const s = new CorrelationStore();
    s.record("x-request-id", "r1", rec("gray"));
    s.lookup("x-request-id", "r1");
    s.lookup("x-request-id", "r1");
    s.lookup("x-request-id", "nope");
    s.lookup("x-request-id", "x".repeat(300));
    expect(s.hits).toBe(2);
    expect(s.misses).toBe(2);
  });

  it("expires an entry after its TTL: undefined, never the stale value", () => {
    const c = clock();
    const s = new CorrelationStore({ ttlMs: 1_000, now: c.now });
    s.record("x-request-id", "r1", rec("gray"));
    c.t += 999;
    expect(s.lookup("x-request-id", "r1")?.labels["x-asm-prefer-tag"]).toBe("gray");
    c.t += 2;
    expect(s.lookup("x-request-id", "r1")).toBeUndefined();
    expect(s.misses).toBe(1);
    // Reading an expired entry drops it.
    expect(s.size).toBe(0);
  });

  it("a lookup does not extend the TTL", () => {
    const c = clock();
    const s = new CorrelationStore({ ttlMs: 1_000, now: c.now });
    s.record("x-request-id", "r1", rec("gray"));
    for (let i = 0; i < 5; i++) {
      c.t += 300;
      s.lookup("x-request-id", "r1");
    }
    expect(c.t - 1_000).toBeGreaterThan(1_000);
    expect(s.lookup("x-request-id", "r1")).toBeUndefined();
  });

  it("size counts live entries only; purgeStale drops the expired ones, within a budget", () => {
    const c = clock();
    const s = new CorrelationStore({ ttlMs: 100, now: c.now, purgeIntervalMs: 0 });
    for (let i = 0; i < 10; i++) s.record("x-request-id", `r${i}`, rec("gray"));
    c.t += 50;
    for (let i = 10; i < 15; i++) s.record("x-request-id", `r${i}`, rec("gray"));
    // A lookup moves r0 to the recency tail: expiry still follows the time it was recorded.
    expect(s.lookup("x-request-id", "r0")).toBeDefined();
    c.t += 60;
    expect(s.held).toBe(15);
    expect(s.purgeStale(4)).toBe(4);
    expect(s.held).toBe(11);
    expect(s.lookup("x-request-id", "r0")).toBeUndefined();
    expect(s.size).toBe(5);
    expect(s.held).toBe(5);
    expect(s.purgeStale()).toBe(0);
    c.t += 60;
    expect(s.size).toBe(0);
    expect(s.bytes).toBe(0);
  });

  it("drops expired entries in the background, with no read and no new entry", async () => {
    const s = new CorrelationStore({ ttlMs: 30, purgeIntervalMs: 10 });
    try {
      for (let i = 0; i < 1000; i++) s.record("x-request-id", `r${i}`, rec("gray"));
      expect(s.held).toBe(1000);
      const until = Date.now() + 5000;
      while (s.held > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(s.held).toBe(0);
      expect(s.bytes).toBe(0);
    } finally {
      s.close();
    }
  });

  it("reports an idle release once after load, never while entries keep coming", () => {
    const c = clock();
    let released = 0;
    const s = new CorrelationStore({
      ttlMs: 1000,
      now: c.now,
      purgeIntervalMs: 0,
      onIdleRelease: () => released++,
    });
    const fill = (from: number) => {
      for (let i = from; i < from + 20_000; i++)
        s.record("x-request-id", `r${i}`, rec("gray", { a: `${i}`.padEnd(1000, "a") }));
    };
    // Under load: every tick sees new entries, so nothing is reported even as old ones expire.
    for (let round = 0; round < 4; round++) {
      fill(round * 20_000);
      c.t += 600;
      s.purgeTick();
    }
    expect(released).toBe(0);
    // Load stops: the next tick with nothing recorded and ≥ 16 MiB dropped reports once.
    c.t += 2000;
    s.purgeTick();
    expect(s.held).toBe(0);
    expect(released).toBe(1);
    s.purgeTick();
    expect(released).toBe(1);
  });

  it("is bounded by its estimated bytes as well as by count, evicting least recently used", () => {
    const big = (i: number) => rec("gray", { "x-user": `${i}`.padEnd(1000, "u") });
    const one = entryBytes("x-request-id\nr0", big(0));
    const s = new CorrelationStore({ maxEntries: 1000, maxBytes: one * 10 + 10, purgeIntervalMs: 0 });
    for (let i = 0; i < 50; i++) {
      s.record("x-request-id", `r${i}`, big(i));
      if (i === 5) s.lookup("x-request-id", "r1");
    }
    expect(s.held).toBe(10);
    expect(s.bytes).toBeLessThanOrEqual(s.maxBytes);
    expect(s.lookup("x-request-id", "r49")).toBeDefined();
    expect(s.lookup("x-request-id", "r0")).toBeUndefined();
    // Small entries: the count bound applies first.
    const small = new CorrelationStore({ maxEntries: 10, maxBytes: 1 << 30, purgeIntervalMs: 0 });
    for (let i = 0; i < 50; i++) small.record("x-request-id", `r${i}`, rec("gray"));
    expect(small.held).toBe(10);
    expect(DEFAULT_CORRELATION_MAX_BYTES).toBe(64 * 1024 * 1024);
  });

  it("the byte estimate is of the order of what V8 really holds", () => {
    // Real bytes (heap after GC) are measured in the docs comment of ENTRY_OVERHEAD_BYTES; here
    // the estimate grows with what a record holds, so a client cannot fill memory with big values.
    const smallRec = entryBytes("x-request-id\nabc", rec("gray"));
    const bigRec = entryBytes("x-request-id\nabc", rec("gray", { a: "x".repeat(1000) }));
    expect(smallRec).toBeGreaterThan(300);
    expect(bigRec - smallRec).toBeGreaterThanOrEqual(1000);
  });

  it("first write wins while the entry lives", () => {
    const s = new CorrelationStore();
    const first = rec("gray");
    s.record("traceparent", "4bf92f3577b34da6a3ce929d0e0e4736", first);
    s.record("traceparent", "4bf92f3577b34da6a3ce929d0e0e4736", rec("prod"));
    expect(s.lookup("traceparent", "4bf92f3577b34da6a3ce929d0e0e4736")).toBe(first);
    expect(s.size).toBe(1);
  });

  it("an expired entry can be recorded again", () => {
    const c = clock();
    const s = new CorrelationStore({ ttlMs: 1_000, now: c.now });
    s.record("x-request-id", "r1", rec("gray"));
    c.t += 1_001;
    s.record("x-request-id", "r1", rec("prod"));
    expect(s.lookup("x-request-id", "r1")?.labels["x-asm-prefer-tag"]).toBe("prod");
    c.t += 999;
    expect(s.lookup("x-request-id", "r1")?.labels["x-asm-prefer-tag"]).toBe("prod");
  });

  it("keeps at most maxEntries, evicting the least recently used", () => {
    const s = new CorrelationStore({ maxEntries: 1_000 });
    for (let i = 0; i < 10_000; i++) {
      s.record("x-request-id", `r${i}`, rec("gray"));
      if (i === 500) s.lookup("x-request-id", "r0"); // r0 is recent again when r1..r500 are old
      expect(s.size).toBeLessThanOrEqual(1_000);
    }
    expect(s.size).toBe(1_000);
    expect(s.lookup("x-request-id", "r8999")).toBeUndefined();
    expect(s.lookup("x-request-id", "r9000")).toBeDefined();
    expect(s.lookup("x-request-id", "r9999")).toBeDefined();
    expect(s.lookup("x-request-id", "r0")).toBeUndefined();
  });

  it("recency from a lookup protects an entry from eviction", () => {
    const s = new CorrelationStore({ maxEntries: 3 });
    s.record("x-request-id", "a", rec("gray"));
    s.record("x-request-id", "b", rec("gray"));
    s.record("x-request-id", "c", rec("gray"));
    s.lookup("x-request-id", "a");
    s.record("x-request-id", "d", rec("gray"));
    expect(s.lookup("x-request-id", "a")).toBeDefined();
    expect(s.lookup("x-request-id", "b")).toBeUndefined();
  });

  it("stays at its bound with 1 000 000 distinct keys", () => {
    const s = new CorrelationStore({ maxEntries: 100_000 });
    const r = rec("gray");
    let max = 0;
    for (let i = 0; i < 1_000_000; i++) {
      s.record("x-request-id", `k-${i}`, r);
      if ((i & 0xfff) === 0 && s.size > max) max = s.size;
    }
    expect(Math.max(max, s.size)).toBe(100_000);
    expect(s.size).toBe(100_000);
    expect(s.lookup("x-request-id", "k-999999")).toBe(r);
    expect(s.lookup("x-request-id", "k-899999")).toBeUndefined();
  });

  it("ignores keys longer than 256 characters", () => {
    const s = new CorrelationStore();
    s.record("x-request-id", "k".repeat(257), rec("gray"));
    s.record("x-request-id", "", rec("gray"));
    expect(s.size).toBe(0);
    s.record("x-request-id", "k".repeat(256), rec("gray"));
    expect(s.size).toBe(1);
    expect(s.lookup("x-request-id", "k".repeat(256))).toBeDefined();
  });

  it("bounds what one record holds: header count and value length", () => {
    const s = new CorrelationStore();
    const headers: Record<string, string> = {};
    for (let i = 0; i < 100; i++) headers[`h${i}`] = `v${i}`;
    headers.h3 = "x".repeat(MAX_RECORD_VALUE_LENGTH + 1);
    s.record("x-request-id", "r1", { headers, labels: { lane: "gray", huge: "y".repeat(5_000) } });
    const got = s.lookup("x-request-id", "r1")!;
    expect(Object.keys(got.headers)).toHaveLength(MAX_RECORD_HEADERS);
    expect(got.headers.h3).toBeUndefined();
    expect(got.headers.h0).toBe("v0");
    expect(got.headers.h32).toBe("v32");
    expect(got.headers.h33).toBeUndefined();
    expect(got.labels).toEqual({ lane: "gray" });
  });

  it("keeps a record that is within bounds as the same object (no copy)", () => {
    const s = new CorrelationStore();
    const r = rec("gray", { "x-user": "u".repeat(MAX_RECORD_VALUE_LENGTH) });
    s.record("x-request-id", "r1", r);
    expect(s.lookup("x-request-id", "r1")).toBe(r);
  });
});

describe("recordInbound", () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const inbound = {
    "x-request-id": "req-1",
    traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    "x-b3-traceid": "a3ce929d0e0e4736",
  };

  it("stores the record under every correlation header present, normalized by correlationKey", () => {
    const s = new CorrelationStore();
    const r = rec("gray");
    recordInbound(s, headersOf(inbound), DEFAULT_CORRELATION_HEADERS, r);
    expect(s.size).toBe(3);
    expect(s.lookup("x-request-id", "req-1")).toBe(r);
    expect(s.lookup("traceparent", traceId)).toBe(r);
    expect(s.lookup("x-b3-traceid", "0000000000000000a3ce929d0e0e4736")).toBe(r);
    // The next hop's traceparent has another span id but the same trace id.
    const next = correlationKey("traceparent", `00-${traceId}-b7ad6b7169203331-01`)!;
    expect(s.lookup("traceparent", next)).toBe(r);
  });

  it("skips absent and unusable headers", () => {
    const s = new CorrelationStore();
    recordInbound(
      s,
      headersOf({ traceparent: "garbage", "x-b3-traceid": "zz" }),
      DEFAULT_CORRELATION_HEADERS,
      rec("gray"),
    );
    expect(s.size).toBe(0);
    recordInbound(s, headersOf({ "x-request-id": "only" }), DEFAULT_CORRELATION_HEADERS, rec("gray"));
    expect(s.size).toBe(1);
  });

  it("the method form does the same and bounds the record once for all keys", () => {
    const s = new CorrelationStore();
    const big = {
      headers: { a: "x".repeat(MAX_RECORD_VALUE_LENGTH + 1), b: "ok" },
      labels: { lane: "gray" },
    };
    s.recordInbound(headersOf(inbound), DEFAULT_CORRELATION_HEADERS, big);
    const a = s.lookup("x-request-id", "req-1");
    expect(a).toEqual({ headers: { b: "ok" }, labels: { lane: "gray" } });
    expect(s.lookup("traceparent", traceId)).toBe(a);
  });

  it("a request copying another's trace id cannot change that request's lane", () => {
    const s = new CorrelationStore();
    recordInbound(s, headersOf(inbound), DEFAULT_CORRELATION_HEADERS, rec("gray"));
    recordInbound(
      s,
      headersOf({ "x-request-id": "req-2", traceparent: inbound.traceparent }),
      DEFAULT_CORRELATION_HEADERS,
      rec("prod"),
    );
    expect(s.lookup("traceparent", traceId)?.labels["x-asm-prefer-tag"]).toBe("gray");
    expect(s.lookup("x-request-id", "req-2")?.labels["x-asm-prefer-tag"]).toBe("prod");
  });

  it("feeds core's LabelResolver: an outbound call with only the trace id gets the inbound lane", () => {
    const s = new CorrelationStore();
    const resolver = new LabelResolver([
      {
        name: "x-asm-prefer-tag",
        valueFrom: [source("$getExternalInboundRequestHeader(traceparent, x-asm-prefer-tag)")],
        raw: ["$getExternalInboundRequestHeader(traceparent, x-asm-prefer-tag)"],
        baggage: false,
        origin: "TrafficLabel/default/t",
      },
    ]);
    recordInbound(s, headersOf(inbound), DEFAULT_CORRELATION_HEADERS, {
      headers: { "x-asm-prefer-tag": "gray" },
      labels: {},
    });
    const out = resolver.resolve(
      "outbound",
      headersOf({ traceparent: `00-${traceId}-1111111111111111-01` }),
      {},
      s.lookup,
    );
    expect(out.values).toEqual({ "x-asm-prefer-tag": "gray" });
    const none = resolver.resolve(
      "outbound",
      headersOf({ traceparent: `00-${"1".repeat(32)}-1111111111111111-01` }),
      {},
      s.lookup,
    );
    expect(none.values).toEqual({});
  });
});
