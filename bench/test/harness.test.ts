/**
 * Smoke test of the proxy harness, in-process: a 0.5-second, one-round run of `direct`,
 * `http-proxy` and `lanecar-passthrough` (and `nginx` when the binary is installed) must write the
 * JSON, Markdown and SVG results with sane numbers and no errors, ratios between scenarios that
 * are what their req/s say, and the Lanecar process's RSS after load + TTL (a 2 s TTL here).
 * Child processes run the compiled bench (bench/dist) and CLI (packages/cli/dist).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { which } from "../src/proc.js";
import type { BenchResults } from "../src/results.js";
import { defaultOptions, runBench } from "../src/run.js";

const out = mkdtempSync(join(tmpdir(), "lanecar-bench-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("proxy harness", () => {
  it("runs direct + http-proxy (+ nginx) and writes sane JSON, Markdown and SVG", async () => {
    const scenarios = ["direct", "http-proxy", "lanecar-passthrough"];
    if (which("nginx")) scenarios.push("nginx");
    else
      console.log(
        "harness smoke: nginx scenario left out: nginx is not installed (apt-get install -y nginx)",
      );
    const lines: string[] = [];
    const run = await runBench({
      ...defaultOptions(),
      mode: "custom",
      scenarios,
      rounds: 1,
      durationS: 0.5,
      warmupS: 0.2,
      outDir: out,
      log: (l) => lines.push(l),
      correlationTtlS: 2,
      rssAfterTtlS: 4,
    });

    const json = JSON.parse(readFileSync(run.files.json, "utf8")) as BenchResults & { bar: unknown[] };
    expect(json.meta.rounds).toBe(1);
    expect(json.meta.rate).toBeGreaterThan(0);
    expect(json.bar.length).toBeGreaterThan(0);
    expect(json.scenarios.map((s) => s.name).sort()).toEqual([...scenarios].sort());
    for (const s of json.scenarios) {
      expect(s.reason, `${s.name}: ${s.reason}\n${lines.join("\n")}`).toBeUndefined();
      expect(s.rounds).toHaveLength(1);
      expect(s.rps).toBeGreaterThan(0);
      expect(s.p50).toBeGreaterThan(0);
      expect(s.p99).toBeGreaterThanOrEqual(s.p50!);
      expect(s.p999).toBeGreaterThanOrEqual(s.p99!);
      expect(s.rounds[0]!.latency.samples).toBeGreaterThan(0);
      expect(s.errors, `${s.name} errors`).toBe(0);
      if (s.name === "direct") {
        expect(s.cpuUsPerReq).toBeNull();
        expect(s.rssMb).toBeNull();
      } else {
        expect(s.cpuUsPerReq).toBeGreaterThanOrEqual(0);
        expect(s.rssMb).toBeGreaterThan(1);
        expect(s.addedP99).not.toBeNull();
      }
      if (s.kind === "lanecar") {
        // Read from the live process after its load and the TTL: a resident set, not the peak.
        expect(s.rssAfterTtlMb, lines.join("\n")).toBeGreaterThan(10);
        expect(s.rssAfterTtlMaxProcMb).toBe(s.rssAfterTtlMb);
      } else expect(s.rssAfterTtlMb ?? null).toBeNull();
    }
    // Ratios of other scenarios against the reference, recomputed from the req/s in the JSON.
    const by = (n: string) => json.scenarios.find((s) => s.name === n)!;
    const node = by("http-proxy").rps!;
    for (const n of ["direct", "lanecar-passthrough"])
      expect(by(n).ratioVsBestNode).toBeCloseTo(by(n).rps! / node, 6);
    if (scenarios.includes("nginx")) {
      expect(json.meta.rateBasis).toContain("nginx");
      const nginx = by("nginx").rps!;
      for (const n of ["direct", "http-proxy", "lanecar-passthrough"])
        expect(by(n).ratioVsNginx).toBeCloseTo(by(n).rps! / nginx, 6);
    } else expect(by("lanecar-passthrough").ratioVsNginx).toBeNull();

    const md = readFileSync(run.files.md, "utf8");
    expect(md).toContain("| scenario | req/s (median) |");
    expect(md).toContain("RSS after load+TTL MB");
    for (const n of scenarios) expect(md).toMatch(new RegExp(`^\\| ${n} \\| [0-9,]+`, "m"));

    const svg = readFileSync(run.files.svg, "utf8");
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    for (const n of scenarios) expect(svg).toContain(`>${n}</text>`);
  }, 60_000);
});
