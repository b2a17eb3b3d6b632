import { describe, expect, it, vi } from "vitest";
import {
  type CorrelationLookup,
  type CorrelationRecord,
  type Direction,
  headerGetter,
  type LabelDefinition,
  LabelResolver,
  labelSelectorMatches,
  parseValueFrom,
  resolverFor,
  type ValueSource,
} from "../../src/index.js";
import { snap } from "../route/support.js";

/** A label definition from valueFrom texts, as a TrafficLabel would give it. */
function def(name: string, ...raw: string[]): LabelDefinition {
  const valueFrom = raw.map((t) => {
    const s = parseValueFrom(t);
    if ("error" in s) throw new Error(s.error);
    return s as ValueSource;
  });
  return { name, valueFrom, raw, baggage: false, origin: "TrafficLabel/default/test" };
}

/** A correlation store fake: records keyed by `ctx\0key`. */
function store(
  entries: Record<string, CorrelationRecord>,
): CorrelationLookup & { calls: [string, string][] } {
  const calls: [string, string][] = [];
  const fn = ((ctx: string, key: string) => {
    calls.push([ctx, key]);
    return entries[`${ctx}\0${key}`];
  }) as CorrelationLookup & { calls: [string, string][] };
  fn.calls = calls;
  return fn;
}

const RECORD: CorrelationRecord = { headers: { "x-user": "from-inbound" }, labels: { lane: "gray" } };
const LOOKUP = () => store({ "x-request-id\0r1": RECORD });

/** Headers present on every request of the table below. */
const HEADERS = {
  "x-request-id": "r1",
  "x-lane": "blue",
  lane: "green",
  baggage: "other=1, lane=yellow;prop=x",
};
const POD = { ASM_TRAFFIC_TAG: "prod", version: "v2" };

describe("each valueFrom function in each direction", () => {
  // A function that does not apply in a direction yields nothing (SPEC 3).
  it.each<[string, Direction, string | undefined]>([
    ["$getInboundRequestHeader(x-lane)", "inbound", "blue"],
    ["$getInboundRequestHeader(x-lane)", "outbound", undefined],
    ["$getLocalOutboundRequestHeader(x-lane)", "outbound", "blue"],
    ["$getLocalOutboundRequestHeader(x-lane)", "inbound", undefined],
    ["$getExternalInboundRequestHeader(x-request-id, x-user)", "outbound", "from-inbound"],
    ["$getExternalInboundRequestHeader(x-request-id, x-user)", "inbound", undefined],
    // Inbound: the label header the previous hop attached. Outbound: the correlated inbound's label.
    ["$getContext(x-request-id)", "inbound", "green"],
    ["$getContext(x-request-id)", "outbound", "gray"],
    ["$getLabel(version)", "inbound", "v2"],
    ["$getLabel(version)", "outbound", "v2"],
    ["$localLabel", "inbound", "prod"],
    ["$(localLabel)", "outbound", "prod"],
    ["$getBaggage(lane)", "inbound", "yellow"],
    ["$getBaggage(lane)", "outbound", "yellow"],
  ])("%s %s → %s", (text, direction, expected) => {
    const r = new LabelResolver([def("lane", text)]);
    const out = r.resolve(direction, headerGetter(HEADERS), POD, LOOKUP());
    expect(out.values.lane).toBe(expected);
    expect(out.invalid).toBe(0);
    if (expected !== undefined) expect(out.from.lane).toBe(text);
    else expect(out.from).toEqual({});
  });

  it("correlated functions yield nothing without a lookup, a correlation header or a record", () => {
    const r = new LabelResolver([
      def("lane", "$getContext(x-request-id)", "$getExternalInboundRequestHeader(x-request-id, x-user)"),
    ]);
    expect(r.resolve("outbound", headerGetter(HEADERS), {}).values).toEqual({});
    expect(r.resolve("outbound", headerGetter({}), {}, LOOKUP()).values).toEqual({});
    expect(r.resolve("outbound", headerGetter({ "x-request-id": "r2" }), {}, LOOKUP()).values).toEqual({});
  });

  it("looks records up by the normalized key of the correlation header (traceparent → trace id)", () => {
    const trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const lookup = store({ [`traceparent\0${trace}`]: RECORD });
    const r = new LabelResolver([def("lane", "$getContext(traceparent)")]);
    const out = r.resolve(
      "outbound",
      headerGetter({ traceparent: `00-${trace}-b7ad6b7169203331-01` }),
      {},
      lookup,
    );
    expect(out.values).toEqual({ lane: "gray" });
    expect(lookup.calls).toEqual([["traceparent", trace]]);
  });

  it("does not call the lookup on inbound", () => {
    const lookup = vi.fn(LOOKUP());
    const r = new LabelResolver([
      def("lane", "$getExternalInboundRequestHeader(x-request-id, x-user)", "$getContext(x-request-id)"),
    ]);
    r.resolve("inbound", headerGetter(HEADERS), {}, lookup);
    expect(lookup).not.toHaveBeenCalled();
  });

  it("reads a percent-encoded baggage member and ignores its properties", () => {
    const r = new LabelResolver([def("lane", "$getBaggage(lane)")]);
    expect(r.resolve("inbound", headerGetter({ baggage: "lane=gr%61y;ttl=5" }), {}).values).toEqual({
      lane: "gray",
    });
    expect(r.resolve("inbound", headerGetter({ baggage: "lanex=gray" }), {}).values).toEqual({});
    expect(r.resolve("inbound", headerGetter({ baggage: "lane=%E0%A4%A" }), {}).values).toEqual({});
  });
});

describe("first valid value wins", () => {
  it("takes the first source that yields a value, in order", () => {
    const r = new LabelResolver([
      def("lane", "$getInboundRequestHeader(x-missing)", "$getInboundRequestHeader(x-lane)", "$(localLabel)"),
    ]);
    const out = r.resolve("inbound", headerGetter(HEADERS), POD);
    expect(out).toEqual({
      values: { lane: "blue" },
      invalid: 0,
      from: { lane: "$getInboundRequestHeader(x-lane)" },
    });
  });

  it.each([
    ["CR/LF", "gray\r\nx-evil: 1"],
    ["a space", "gr ay"],
    ["64 characters", "g".repeat(64)],
    ["a repeated header (joined with a comma)", ["gray", "blue"]],
  ])("skips a value with %s, counts it, and falls through to the next source", (_what, bad) => {
    const r = new LabelResolver([def("lane", "$getInboundRequestHeader(x-lane)", "$(localLabel)")]);
    const out = r.resolve("inbound", headerGetter({ "x-lane": bad }), { ASM_TRAFFIC_TAG: "gray" });
    expect(out.values).toEqual({ lane: "gray" });
    expect(out.from).toEqual({ lane: "$(localLabel)" });
    expect(out.invalid).toBe(1);
  });

  it("treats an empty value as no value: falls through without counting it", () => {
    const r = new LabelResolver([def("lane", "$getInboundRequestHeader(x-lane)", "$(localLabel)")]);
    const out = r.resolve("inbound", headerGetter({ "x-lane": "" }), { ASM_TRAFFIC_TAG: "gray" });
    expect(out).toEqual({ values: { lane: "gray" }, invalid: 0, from: { lane: "$(localLabel)" } });
  });

  it("accepts a 63-character value", () => {
    const v = "g".repeat(63);
    const r = new LabelResolver([def("lane", "$getInboundRequestHeader(x-lane)")]);
    expect(r.resolve("inbound", headerGetter({ "x-lane": v }), {}).values.lane).toBe(v);
  });

  it("leaves the label unresolved when no source yields a valid value, counting every invalid one", () => {
    const r = new LabelResolver([
      def("lane", "$getInboundRequestHeader(a)", "$getInboundRequestHeader(b)", "$(localLabel)"),
    ]);
    const out = r.resolve("inbound", headerGetter({ a: "x y", b: "z\n" }), { ASM_TRAFFIC_TAG: "-bad" });
    expect(out).toEqual({ values: {}, invalid: 3, from: {} });
  });

  it("resolves several labels independently", () => {
    const r = new LabelResolver([
      def("lane", "$getInboundRequestHeader(x-lane)"),
      def("user", "$getInboundRequestHeader(end-user)"),
    ]);
    const out = r.resolve("inbound", headerGetter({ "x-lane": "gray", "end-user": "bad value" }), {});
    expect(out.values).toEqual({ lane: "gray" });
    expect(out.invalid).toBe(1);
  });
});

describe("keys that exist on every plain object", () => {
  it("a pod label or recorded header named like an Object.prototype member is absent, not invalid", () => {
    const r = new LabelResolver([
      def(
        "lane",
        "$getLabel(toString)",
        "$getExternalInboundRequestHeader(x-request-id, constructor)",
        "$getLabel(version)",
      ),
    ]);
    const out = r.resolve("outbound", headerGetter({ "x-request-id": "r1" }), { version: "v2" }, LOOKUP());
    expect(out).toEqual({ values: { lane: "v2" }, invalid: 0, from: { lane: "$getLabel(version)" } });
  });
});

describe("what the correlation store must keep", () => {
  it("collects the inbound headers and context headers the functions name", () => {
    const r = new LabelResolver([
      def("lane", "$getExternalInboundRequestHeader(x-request-id, x-user)", "$getContext(traceparent)"),
      def(
        "tenant",
        "$getExternalInboundRequestHeader(x-b3-traceid, x-tenant)",
        "$getInboundRequestHeader(x-t)",
      ),
    ]);
    expect([...r.recordHeaders].sort()).toEqual(["x-tenant", "x-user"]);
    expect([...r.contextHeaders].sort()).toEqual(["traceparent", "x-b3-traceid", "x-request-id"]);
    expect(r.empty).toBe(false);
    expect(new LabelResolver([]).empty).toBe(true);
  });
});

describe("labelSelectorMatches", () => {
  it("matches when every selector label is equal; absent selector matches all", () => {
    expect(labelSelectorMatches(undefined, {})).toBe(true);
    expect(labelSelectorMatches({}, { a: "1" })).toBe(true);
    expect(labelSelectorMatches({ app: "reviews" }, { app: "reviews", version: "v1" })).toBe(true);
    expect(labelSelectorMatches({ app: "reviews", version: "v2" }, { app: "reviews", version: "v1" })).toBe(
      false,
    );
    expect(labelSelectorMatches({ app: "reviews" }, {})).toBe(false);
  });
});

const tl = (
  name: string,
  label: string,
  valueFrom: string,
  opts: { namespace?: string; selector?: string; attachTo?: string } = {},
) => `
apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: ${name}${opts.namespace ? `, namespace: ${opts.namespace}` : ""}}
spec:
${opts.selector ? `  workloadSelector: {labels: ${opts.selector}}\n` : ""}  rules:
  - labels:
    - name: ${label}
      valueFrom: ["${valueFrom}"]
${opts.attachTo ? `    attachTo: ${opts.attachTo}\n` : ""}`;

describe("workloadSelector selection and precedence", () => {
  const s = snap([
    tl("all", "lane", "$getInboundRequestHeader(from-all)"),
    tl("reviews-only", "lane", "$getInboundRequestHeader(from-reviews)", { selector: "{app: reviews}" }),
    tl("ratings-only", "user", "$getInboundRequestHeader(from-ratings)", { selector: "{app: ratings}" }),
    tl("a-first", "tenant", "$getInboundRequestHeader(from-a)"),
    tl("b-second", "tenant", "$getInboundRequestHeader(from-b)"),
    tl("mesh-wide", "zone", "$getInboundRequestHeader(from-root)", {
      namespace: "istio-system",
      attachTo: "[opentracing]",
    }),
    tl("local-zone", "lane", "$getInboundRequestHeader(from-other-ns)", { namespace: "other" }),
  ]);
  const headers = headerGetter({
    "from-all": "all",
    "from-reviews": "reviews",
    "from-ratings": "ratings",
    "from-a": "a",
    "from-b": "b",
    "from-root": "root",
    "from-other-ns": "other",
  });
  const resolve = (ns: string, pod: Record<string, string>) =>
    s.labelResolver(ns, pod).resolve("inbound", headers, pod).values;

  it("a TrafficLabel with a selector applies only to pods it selects, and wins over a namespace-wide one", () => {
    expect(resolve("default", { app: "reviews" })).toEqual({ lane: "reviews", tenant: "a", zone: "root" });
    expect(resolve("default", { app: "productpage" })).toEqual({ lane: "all", tenant: "a", zone: "root" });
    expect(resolve("default", { app: "ratings" })).toEqual({
      lane: "all",
      user: "ratings",
      tenant: "a",
      zone: "root",
    });
  });

  it("ties between namespace-wide TrafficLabels go to the earlier name", () => {
    expect(resolve("default", {})).toMatchObject({ tenant: "a" });
  });

  it("applies TrafficLabels of the pod's namespace and the root namespace only", () => {
    expect(resolve("other", { app: "reviews" })).toEqual({ lane: "other", zone: "root" });
    expect(resolve("third", {})).toEqual({ zone: "root" });
  });

  it("keeps the origin and the baggage carrier of each definition", () => {
    const r = s.labelResolver("default", { app: "reviews" });
    expect(r.labels.find((l) => l.name === "lane")?.origin).toBe("TrafficLabel/default/reviews-only");
    expect(r.baggageLabels).toEqual(["zone"]);
  });

  it("resolverFor: a namespace's own namespace-wide definition beats a root one with a selector", () => {
    const own = {
      id: "TrafficLabel/default/own",
      namespace: "default",
      name: "own",
      spec: { rules: [rule("lane", "$getInboundRequestHeader(own)")] },
    };
    const root = {
      id: "TrafficLabel/istio-system/root",
      namespace: "istio-system",
      name: "root",
      spec: { workloadSelector: { app: "x" }, rules: [rule("lane", "$getInboundRequestHeader(root)")] },
    };
    const r = resolverFor([root, own], "default", { app: "x" });
    expect(r.resolve("inbound", headerGetter({ own: "own", root: "root" }), {}).values).toEqual({
      lane: "own",
    });
  });
});

function rule(name: string, text: string) {
  const s = parseValueFrom(text) as ValueSource;
  return { labels: [{ name, valueFrom: [s], raw: [text] }], attachTo: [], protocols: "*" };
}
