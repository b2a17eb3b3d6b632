/** The bar checker, the option parser and the medians, on made-up results (no processes). */
import { describe, expect, it } from "vitest";
import { evaluateBar } from "../src/bar.js";
import { markdownReport } from "../src/report.js";
import {
  type BenchResults,
  median,
  type RoundSample,
  type ScenarioResult,
  summarize,
} from "../src/results.js";
import { parseArgs, UsageError } from "../src/run.js";
import type { ScenarioKind } from "../src/scenarios/types.js";
import { svgChart } from "../src/svg.js";

function round(rps: number, p99: number, extra: Partial<RoundSample> = {}): RoundSample {
  const none = { errors: 0, timeouts: 0, non2xx: 0 };
  return {
    round: 0,
    position: 0,
    warmup: { rps, ...none },
    throughput: { rps, requests: rps * 2, durationS: 2, cpuUsPerReq: 30, generatorCpuPct: 50, ...none },
    latency: {
      targetRate: 10_000,
      achievedRps: 10_000,
      p50: p99 / 3,
      p99,
      p999: p99 * 1.5,
      max: p99 * 2,
      samples: 20_000,
      ...none,
    },
    rssMb: 60,
    rssMaxProcMb: 60,
    notes: [],
    ...extra,
  };
}

function scenario(name: string, kind: ScenarioKind, rounds: RoundSample[]): ScenarioResult {
  return {
    name,
    kind,
    description: name,
    available: rounds.length > 0,
    rounds,
    rps: null,
    rpsMin: null,
    rpsMax: null,
    p50: null,
    p99: null,
    p999: null,
    achievedRps: null,
    addedP50: null,
    addedP99: null,
    addedP999: null,
    cpuUsPerReq: null,
    generatorCpuPct: null,
    rssMb: null,
    rssMaxProcMb: null,
    errors: 0,
    ratioVsNginx: null,
    ratioVsBestNode: null,
    notes: [],
  };
}

function results(
  lanes: RoundSample[],
  nginxP99 = 0.5,
  mtls: RoundSample[] = lanes.map((r) => ({
    ...r,
    throughput: { ...r.throughput, rps: r.throughput.rps / 4 },
  })),
): BenchResults {
  return {
    meta: {
      timestamp: "2026-01-01T00:00:00Z",
      mode: "quick",
      node: "v20",
      cpu: "test",
      cores: 2,
      loadavg: [0, 0, 0],
      rounds: 3,
      durationS: 2,
      warmupS: 1,
      connections: 50,
      path: "/small",
      rate: 10_000,
      rateBasis: "50% of nginx's max in round 1",
      orders: [],
      elapsedS: 1,
    },
    scenarios: summarize([
      scenario("direct", "baseline", [round(40_000, 0.3), round(42_000, 0.3), round(41_000, 0.3)]),
      scenario("lanecar-lanes", "lanecar", lanes),
      scenario("nginx", "native", [
        round(30_000, nginxP99),
        round(28_000, nginxP99),
        round(32_000, nginxP99),
      ]),
      scenario("lanecar-lanes-mtls", "lanecar", mtls),
      scenario("nginx-ssl", "native", [round(10_000, 1), round(11_000, 1), round(9_000, 1)]),
      scenario("fastify-http-proxy", "node", [round(15_000, 2)]),
      scenario("http-proxy", "node", [round(16_000, 2)]),
    ]),
  };
}

describe("summarize", () => {
  it("takes medians over rounds and ratios against nginx and the best Node proxy", () => {
    const r = results([round(25_000, 0.6), round(21_000, 0.7), round(23_000, 0.65)]);
    const lanes = r.scenarios.find((s) => s.name === "lanecar-lanes")!;
    expect(lanes.rps).toBe(23_000);
    expect(lanes.rpsMin).toBe(21_000);
    expect(lanes.rpsMax).toBe(25_000);
    expect(lanes.p99).toBeCloseTo(0.65);
    expect(lanes.addedP99).toBeCloseTo(0.35);
    expect(lanes.ratioVsNginx).toBeCloseTo(23_000 / 30_000);
    expect(lanes.ratioVsBestNode).toBeCloseTo(23_000 / 16_000);
    expect(median([3, 1, 2, 10])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});

describe("bar", () => {
  it("passes a Lanecar that clears every line", () => {
    const lines = evaluateBar(results([round(23_000, 0.6), round(22_000, 0.6), round(24_000, 0.6)]));
    expect(lines.map((l) => l.status)).toEqual(["PASS", "PASS", "PASS", "PASS", "PASS", "PASS", "PASS"]);
    // lanecar-lanes-mtls at a quarter of lanes: 5,750 vs nginx-ssl's 10,000.
    expect(lines[6]!.detail).toBe("5,750 vs nginx-ssl 10,000 = 0.58×");
  });

  it("fails throughput, latency, memory, errors and the lane check separately", () => {
    const bad = round(14_000, 2, {
      rssMaxProcMb: 140,
      notes: ["LANE CHECK FAILED: HTTP 200, upstream saw trafficlabel=prod (want gray)"],
    });
    bad.latency.non2xx = 3;
    const lines = evaluateBar(results([bad]));
    expect(lines.map((l) => l.status)).toEqual(["FAIL", "FAIL", "FAIL", "FAIL", "FAIL", "FAIL", "FAIL"]);
    expect(lines[0]!.detail).toContain("http-proxy");
    expect(lines[3]!.detail).toContain("140.0 MB");
    // The mTLS scenario's failed lane check is named too, and 3,500 < 0.5 × 10,000.
    expect(lines[5]!.detail).toContain("lanecar-lanes-mtls: LANE CHECK FAILED");
    expect(lines[6]!.detail).toBe("3,500 vs nginx-ssl 10,000 = 0.35×");
  });

  it("floors nginx's added p99 so timer noise cannot fail Lanecar", () => {
    // nginx adds nothing measurable (p99 below direct's); Lanecar adds 0.08 ms ≤ 2 × 0.05 ms.
    const lines = evaluateBar(results([round(23_000, 0.38)], 0.29));
    expect(lines[2]!.status).toBe("PASS");
  });

  it("judges mutual TLS against nginx-ssl only, and skips it when either did not run", () => {
    const lanes = [round(23_000, 0.6)];
    const slow = evaluateBar(results(lanes, 0.5, [round(4_999, 1)]));
    expect(slow[6]).toMatchObject({ status: "FAIL", detail: "4,999 vs nginx-ssl 10,000 = 0.50×" });
    expect(evaluateBar(results(lanes, 0.5, [round(5_000, 1)]))[6]!.status).toBe("PASS");
    const r = results(lanes);
    r.scenarios = r.scenarios.filter((s) => s.name !== "nginx-ssl");
    expect(evaluateBar(r)[6]).toMatchObject({ status: "SKIP", detail: "nginx-ssl not in this run" });
  });

  it("skips with the reason when Lanecar did not run", () => {
    const r = results([]);
    r.scenarios.find((s) => s.name === "lanecar-lanes")!.reason =
      "lanecar-sidecar exited (code 1): Error: not built";
    const lines = evaluateBar(r);
    expect(lines.every((l) => l.status === "SKIP")).toBe(true);
    expect(lines[0]!.detail).toContain("not built");
  });
});

describe("report and chart", () => {
  it("renders unavailable scenarios and escapes text", () => {
    const r = results([]);
    r.scenarios.find((s) => s.name === "lanecar-lanes")!.reason = "exited: <Error> & more";
    const md = markdownReport(r, evaluateBar(r));
    expect(md).toContain("| lanecar-lanes | unavailable |");
    const svg = svgChart(r);
    expect(svg).toContain("unavailable: exited: &lt;Error&gt; &amp; more");
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });
});

describe("options", () => {
  it("parses --full, --scenarios, --duration, --rounds", () => {
    expect(parseArgs(["--full"])).toMatchObject({ mode: "full", rounds: 5, durationS: 10 });
    expect(parseArgs(["--scenarios", "direct,nginx", "--duration=1.5", "--rounds", "3"])).toMatchObject({
      mode: "custom",
      scenarios: ["direct", "nginx"],
      durationS: 1.5,
      rounds: 3,
    });
    expect(() => parseArgs(["--scenarios", "nope"])).toThrow(UsageError);
    expect(() => parseArgs(["--duration", "0"])).toThrow(UsageError);
    expect(() => parseArgs(["--bogus"])).toThrow(UsageError);
  });
});
