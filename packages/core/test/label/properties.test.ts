/** Property tests: label resolution never yields an invalid value, and the first valid one wins. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CorrelationRecord,
  type Direction,
  headerGetter,
  isValidLabelValue,
  LabelResolver,
  parseValueFrom,
  type ValueSource,
} from "../../src/index.js";

/** The SPEC 3 rule spelled out character by character, independent of the regex in the source. */
function specValid(v: string): boolean {
  if (v.length < 1 || v.length > 63) return false;
  const alnum = (c: string) => /^[A-Za-z0-9]$/.test(c);
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    const edge = i === 0 || i === v.length - 1;
    if (edge ? !alnum(c) : !(alnum(c) || c === "-" || c === "_" || c === ".")) return false;
  }
  return true;
}

/** Values that look like lanes, values near the limits, and arbitrary garbage. */
const labelValue = fc.oneof(
  fc.constantFrom(
    "gray",
    "prod",
    "v1",
    "a",
    "gray\r\n",
    " gray",
    "gr ay",
    "-x",
    "x.",
    "",
    "a".repeat(63),
    "a".repeat(64),
  ),
  fc.stringMatching(/^[A-Za-z0-9._-]{0,70}$/),
  fc.string({ unit: "binary", maxLength: 80 }),
);

const HEADERS = ["x-lane", "x-user", "x-asm-prefer-tag"] as const;
const LABELS = ["ASM_TRAFFIC_TAG", "version"] as const;
/** Keys that plain-object lookups find on Object.prototype when they are absent. */
const PROTO_KEYS = ["constructor", "toString", "__proto__"] as const;
const SOURCES = [
  ...HEADERS.map((h) => `$getInboundRequestHeader(${h})`),
  ...HEADERS.map((h) => `$getLocalOutboundRequestHeader(${h})`),
  ...HEADERS.map((h) => `$getExternalInboundRequestHeader(x-request-id, ${h})`),
  "$getContext(x-request-id)",
  ...LABELS.map((l) => `$getLabel(${l})`),
  ...PROTO_KEYS.map((k) => `$getLabel(${k})`),
  // Header names are lower-cased, so only these two still name Object.prototype members.
  "$getExternalInboundRequestHeader(x-request-id, constructor)",
  "$getExternalInboundRequestHeader(x-request-id, __proto__)",
  "$localLabel",
  "$(localLabel)",
];

const valueMap = (keys: readonly string[]): fc.Arbitrary<Record<string, string>> =>
  fc
    .record(Object.fromEntries(keys.map((k) => [k, labelValue])) as Record<string, typeof labelValue>, {
      requiredKeys: [],
    })
    .map((o) =>
      Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined)),
    );

const own = (o: Readonly<Record<string, string>>, k: string): string | undefined =>
  Object.hasOwn(o, k) ? o[k] : undefined;

/** What the resolver should do, written from the SPEC table rather than from the source. */
function model(
  texts: string[],
  direction: Direction,
  headers: Record<string, string>,
  pod: Record<string, string>,
  record: CorrelationRecord | undefined,
): { value: string | undefined; invalid: number } {
  let invalid = 0;
  for (const t of texts) {
    const m = /^\$(\w+)\((?:([\w-]+), )?([\w-]+)\)$/.exec(t);
    let v: string | undefined;
    const fn = m?.[1];
    const arg = m?.[3] ?? "";
    if (t === "$localLabel" || t === "$(localLabel)") v = own(pod, "ASM_TRAFFIC_TAG");
    else if (fn === "getInboundRequestHeader") v = direction === "inbound" ? own(headers, arg) : undefined;
    else if (fn === "getLocalOutboundRequestHeader")
      v = direction === "outbound" ? own(headers, arg) : undefined;
    else if (fn === "getExternalInboundRequestHeader")
      v = direction === "outbound" && record ? own(record.headers, arg) : undefined;
    else if (fn === "getContext")
      v = direction === "inbound" ? own(headers, "lane") : record && own(record.labels, "lane");
    else if (fn === "getLabel") v = own(pod, arg);
    if (v === undefined || v === "") continue; // empty = no value, not counted
    if (specValid(v)) return { value: v, invalid };
    invalid++;
  }
  return { value: undefined, invalid };
}

describe("label resolution properties", () => {
  it("isValidLabelValue is exactly the Kubernetes label value rule", () => {
    fc.assert(
      fc.property(labelValue, (v) => {
        expect(isValidLabelValue(v)).toBe(specValid(v));
      }),
      { numRuns: 2000 },
    );
  });

  it("never returns an invalid value; returns the first valid one; counts the invalid ones before it", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...SOURCES), { minLength: 1, maxLength: 6 }),
        fc.constantFrom<Direction>("inbound", "outbound"),
        valueMap([...HEADERS, "lane"]),
        valueMap(LABELS),
        fc.option(fc.record({ headers: valueMap(HEADERS), labels: valueMap(["lane"]) }), { nil: undefined }),
        (texts, direction, headers, pod, record) => {
          const valueFrom = texts.map((t) => parseValueFrom(t) as ValueSource);
          const r = new LabelResolver([
            { name: "lane", valueFrom, raw: texts, baggage: false, origin: "test" },
          ]);
          const lookup = (ctx: string, key: string) =>
            ctx === "x-request-id" && key === "rid" ? record : undefined;
          const out = r.resolve(direction, headerGetter({ ...headers, "x-request-id": "rid" }), pod, lookup);
          for (const v of Object.values(out.values)) {
            expect(isValidLabelValue(v)).toBe(true);
            expect(v).not.toMatch(/[\s\r\n]/);
            expect(v.length).toBeLessThanOrEqual(63);
          }
          const expected = model(texts, direction, headers, pod, record);
          expect(out.values.lane).toBe(expected.value);
          expect(out.invalid).toBe(expected.invalid);
          if (expected.value !== undefined) expect(texts).toContain(out.from.lane);
        },
      ),
      { numRuns: 1500 },
    );
  });
});
