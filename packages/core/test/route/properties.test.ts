/** Property tests for routing: weights, first-match order, and `$label` / fallback termination. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Availability, availabilityExcept } from "../../src/index.js";
import { destinationRule, route, seeded, serviceEntry, snap } from "./support.js";

describe("weighted choice", () => {
  it("converges to its weights (chi-square bound over seeded draws); zero weights are never chosen", () => {
    const N = 3000;
    fc.assert(
      fc.property(
        fc
          .array(fc.integer({ min: 0, max: 40 }), { minLength: 2, maxLength: 6 })
          .filter((ws) => ws.some((w) => w > 0)),
        fc.integer(),
        (weights, seed) => {
          const subsets = Object.fromEntries(weights.map((_, i) => [`s${i}`, { version: `s${i}` }]));
          const s = snap([
            serviceEntry(
              "svc",
              weights.map((_, i) => ({ port: 20000 + i, labels: { version: `s${i}` } })),
            ),
            destinationRule("svc", subsets),
            `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - route:
${weights.map((w, i) => `    - {destination: {host: svc, subset: s${i}}, weight: ${w}}`).join("\n")}
`,
          ]);
          const rand = seeded(seed);
          const counts = weights.map(() => 0);
          for (let n = 0; n < N; n++) {
            const sub = route(s, "GET http://svc/", { rand }).destination!.subset!;
            counts[Number(sub.slice(1))]!++;
          }
          const total = weights.reduce((a, b) => a + b, 0);
          let chi2 = 0;
          let df = -1;
          weights.forEach((w, i) => {
            if (w === 0) {
              expect(counts[i]).toBe(0);
              return;
            }
            const e = (N * w) / total;
            chi2 += (counts[i]! - e) ** 2 / e;
            df++;
          });
          // P(chi2 > 3·df + 30) is below 1e-7 for df ≤ 5: a failure means a biased choice, not bad luck.
          expect(chi2).toBeLessThan(3 * df + 30);
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** One condition of a match block, with its YAML and an independent predicate. */
interface Cond {
  yaml: string;
  holds(r: Req): boolean;
}
interface Req {
  path: string;
  method: string;
  headers: Record<string, string>;
  query: Record<string, string>;
}

const cond: fc.Arbitrary<Cond> = fc.oneof(
  fc
    .constantFrom("/a", "/b", "/")
    .map((p) => ({ yaml: `uri: {prefix: "${p}"}`, holds: (r: Req) => r.path.startsWith(p) })),
  fc
    .constantFrom("/a", "/b/x")
    .map((p) => ({ yaml: `uri: {exact: "${p}"}`, holds: (r: Req) => r.path === p })),
  fc
    .constantFrom("1", "2")
    .map((v) => ({ yaml: `headers: {x-a: {exact: "${v}"}}`, holds: (r: Req) => r.headers["x-a"] === v })),
  fc.constant({ yaml: "headers: {x-b: {}}", holds: (r: Req) => r.headers["x-b"] !== undefined }),
  fc.constantFrom("1", "2").map((v) => ({
    yaml: `withoutHeaders: {x-a: {exact: "${v}"}}`,
    holds: (r: Req) => r.headers["x-a"] !== v,
  })),
  fc
    .constantFrom("GET", "POST")
    .map((m) => ({ yaml: `method: {exact: ${m}}`, holds: (r: Req) => r.method === m })),
  fc.constantFrom("1", "2").map((v) => ({
    yaml: `queryParams: {q: {regex: "${v}|9"}}`,
    holds: (r: Req) => r.query.q === v || r.query.q === "9",
  })),
);

/** A block's conditions use distinct keys (YAML maps cannot repeat one). */
const block = fc.uniqueArray(cond, { minLength: 1, maxLength: 3, selector: (c) => c.yaml.split(":")[0] });
const rules = fc.array(fc.array(block, { maxLength: 3 }), { minLength: 1, maxLength: 6 });
const request: fc.Arbitrary<Req> = fc.record({
  path: fc.constantFrom("/a", "/a/x", "/b", "/b/x", "/c"),
  method: fc.constantFrom("GET", "POST"),
  headers: fc.record({ "x-a": fc.constantFrom("1", "2", "3"), "x-b": fc.constant("") }, { requiredKeys: [] }),
  query: fc.record({ q: fc.constantFrom("1", "2", "9") }, { requiredKeys: [] }),
});

describe("first match", () => {
  it("the chosen rule is the first whose match blocks hold (no rule: NR)", () => {
    fc.assert(
      fc.property(rules, fc.array(request, { minLength: 1, maxLength: 8 }), (rs, reqs) => {
        const http = rs
          .map((blocks, i) => {
            const m =
              blocks.length === 0
                ? ""
                : `    match:\n${blocks.map((b) => `    - {${b.map((c) => c.yaml).join(", ")}}`).join("\n")}\n`;
            return `  - name: r${i}\n${m}    route: [{destination: {host: svc}}]`;
          })
          .join("\n");
        const s = snap([
          serviceEntry("svc", [{ port: 20000 }]),
          `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
${http}
`,
        ]);
        for (const r of reqs) {
          const qs = Object.entries(r.query)
            .map(([k, v]) => `${k}=${v}`)
            .join("&");
          const d = route(s, `${r.method} http://svc${r.path}${qs ? `?${qs}` : ""}`, { headers: r.headers });
          const first = rs.findIndex(
            (blocks) => blocks.length === 0 || blocks.some((b) => b.every((c) => c.holds(r))),
          );
          if (first < 0) expect(d).toMatchObject({ kind: "noroute", flag: "NR" });
          else {
            expect(d.rule).toBe(`svc/r${first}`);
            const blocks = rs[first]!;
            expect(d.matchIndex).toBe(
              blocks.length === 0 ? -1 : blocks.findIndex((b) => b.every((c) => c.holds(r))),
            );
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

/** Endpoints of the lane world: host → [port, labels]. */
const WORLD: Record<string, [number, Record<string, string>][]> = {
  reviews: [
    [19001, { version: "v1", ASM_TRAFFIC_TAG: "prod" }],
    [19002, { version: "v2", ASM_TRAFFIC_TAG: "gray" }],
    [19003, { version: "v3" }],
  ],
  ratings: [
    [19011, { version: "v1", ASM_TRAFFIC_TAG: "prod" }],
    [19012, { version: "v2", ASM_TRAFFIC_TAG: "gray" }],
  ],
  details: [],
};
const SUBSETS: Record<string, Record<string, Record<string, string>>> = {
  reviews: { v1: { version: "v1" }, v2: { version: "v2" }, v3: { version: "v3" }, prod: { version: "v1" } },
  ratings: { v1: { version: "v1" }, v2: { version: "v2" }, prod: { version: "v1" } },
  details: { v1: { version: "v1" }, v2: { version: "v2" }, prod: { version: "v1" } },
};

/** Which endpoint ports (host, subset) selects, from the SPEC: DR subset, else lane tag, else none. */
function modelPorts(host: string, subset: string | undefined, lane: string | undefined): number[] {
  const eps = WORLD[host]!;
  if (subset === undefined) return eps.map(([p]) => p);
  const name = subset.startsWith("$") ? lane : subset;
  if (name === undefined) return [];
  const sel = Object.hasOwn(SUBSETS[host]!, name) ? SUBSETS[host]![name] : undefined;
  if (sel) return eps.filter(([, l]) => Object.entries(sel).every(([k, v]) => l[k] === v)).map(([p]) => p);
  return eps.filter(([, l]) => l.ASM_TRAFFIC_TAG === name).map(([p]) => p);
}

interface Hop {
  host: string;
  subset: string | undefined;
  cases: ("noinstances" | "noavailabled")[];
}

const target = fc.record({
  host: fc.constantFrom("reviews", "ratings", "details"),
  subset: fc.constantFrom<string | undefined>("v1", "v2", "prod", "$lane", undefined),
});
const hop: fc.Arbitrary<Hop> = fc.record({
  host: target.map((t) => t.host),
  subset: target.map((t) => t.subset),
  cases: fc.subarray(["noinstances", "noavailabled"] as ("noinstances" | "noavailabled")[], { minLength: 1 }),
});
/** A primary destination and an acyclic chain (no (host, subset) twice, as validation requires). */
const chain = fc
  .uniqueArray(hop, { minLength: 1, maxLength: 7, selector: (h) => `${h.host}/${h.subset}` })
  .map(([primary, ...rest]) => ({ primary: primary!, rest }));
const lane = fc.option(
  fc.oneof(
    fc.constantFrom("gray", "prod", "v1", "v2", "v3", "blue", "__proto__", "constructor", "toString"),
    fc.string({ maxLength: 70 }),
    fc.string({ unit: "binary", maxLength: 20 }),
  ),
  { nil: undefined },
);
const down = fc.subarray([19001, 19002, 19003, 19011, 19012]);

function fallbackYaml(rest: Hop[]): string {
  let y = "";
  for (let i = rest.length - 1; i >= 0; i--) {
    const h = rest[i]!;
    // The case of link i is written on the destination that precedes target i.
    const sub = h.subset === undefined ? "" : `, subset: "${h.subset}"`;
    y = `{case: "${h.cases.join("|")}", target: {host: ${h.host}${sub}${y ? `, fallback: ${y}` : ""}}}`;
  }
  return y;
}

describe("templating and fallback", () => {
  it("always terminate with a decision that matches the SPEC model", () => {
    const base = [
      `apiVersion: istio.alibabacloud.com/v1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules: [{labels: [{name: lane, valueFrom: ["$(localLabel)"]}]}]
`,
      ...Object.entries(WORLD).map(([h, eps]) =>
        serviceEntry(
          h,
          eps.map(([port, labels]) => ({ port, labels })),
        ),
      ),
      ...Object.entries(SUBSETS).map(([h, sub]) => destinationRule(h, sub)),
    ];
    fc.assert(
      fc.property(chain, lane, down, ({ primary, rest }, laneValue, downPorts) => {
        // Cases of link i live on hop i+1 in `rest`; the primary's `cases` are unused.
        const fb = fallbackYaml(rest);
        const sub = primary.subset === undefined ? "" : `, subset: "${primary.subset}"`;
        const s = snap([
          ...base,
          `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: entry}
spec:
  hosts: [entry.example.com]
  http:
  - route:
    - destination: {host: ${primary.host}${sub}}
${fb ? `      fallback: ${fb}\n` : ""}`,
        ]);
        const avail: Availability = availabilityExcept(downPorts.map((p) => `127.0.0.1:${p}`));
        const labels: Record<string, string> = laneValue === undefined ? {} : { lane: laneValue };
        const d = route(s, "GET http://entry.example.com:9080/", { labels, avail });

        // Model: walk the chain while the current target has no available endpoint.
        const targets = [primary, ...rest];
        let i = 0;
        let firstReason: string | undefined;
        for (;;) {
          const t = targets[i]!;
          const eps = modelPorts(t.host, t.subset, laneValue);
          if (eps.some((p) => !downPorts.includes(p))) break;
          const reason = eps.length > 0 ? "noavailabled" : "noinstances";
          const next = targets[i + 1];
          if (!next?.cases.includes(reason)) break;
          firstReason ??= reason;
          i++;
        }
        const last = targets[i]!;
        const expectedPorts = modelPorts(last.host, last.subset, laneValue);
        const healthy = expectedPorts.some((p) => !downPorts.includes(p));

        expect(d.kind).toBe("route");
        expect(d.healthy).toBe(healthy);
        expect(d.flag).toBe(healthy ? "" : "UH");
        expect((d.cluster?.endpoints ?? []).map((e) => e.port).sort()).toEqual([...expectedPorts].sort());
        expect(d.cluster?.host).toBe(`${last.host}.default.svc.cluster.local`);
        if (i === 0) expect(d.fallback).toBeNull();
        else
          expect(d.fallback).toMatchObject({
            reason: firstReason,
            hops: i,
            to: { host: `${last.host}.default.svc.cluster.local` },
          });
        expect(labels).toEqual(laneValue === undefined ? {} : { lane: laneValue });
      }),
      { numRuns: 200 },
    );
  });

  it("any label value that names no lane selects the one shared empty cluster", () => {
    const s = snap([
      serviceEntry(
        "reviews",
        WORLD.reviews!.map(([port, labels]) => ({ port, labels })),
      ),
      destinationRule("reviews", SUBSETS.reviews!),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: $lane}}]}]
`,
    ]);
    const known = new Set(["v1", "v2", "v3", "prod", "gray"]);
    const empty = route(s, "GET http://reviews/", { labels: { lane: "no-such-lane" } }).cluster;
    expect(empty?.endpoints).toEqual([]);
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 100 }), (v) => {
        fc.pre(!known.has(v));
        const d = route(s, "GET http://reviews/", { labels: { lane: v } });
        expect(d.cluster).toBe(empty);
        expect(d.flag).toBe("UH");
      }),
      { numRuns: 500 },
    );
  });
});
