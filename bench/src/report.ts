/** The Markdown report (bench/results/latest.md) of a harness run. */
import { type BarLine, formatBar } from "./bar.js";
import type { BenchResults, ScenarioResult } from "./results.js";

function num(n: number | null, digits = 0): string {
  if (n === null || !Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function ms(n: number | null): string {
  return n === null || !Number.isFinite(n) ? "–" : n < 10 ? n.toFixed(3) : n.toFixed(1);
}

function signed(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return "–";
  return `${n >= 0 ? "+" : ""}${ms(n)}`;
}

function ratio(n: number | null): string {
  return n === null ? "–" : `${n.toFixed(2)}×`;
}

/** Above this share of a core, the generator, not the proxy, may have set the max throughput. */
export const GENERATOR_BOUND_PCT = 90;

function row(s: ScenarioResult): string {
  if (s.rps === null) return `| ${s.name} | unavailable | | | | | | | | | | |`;
  const spread = s.rounds.length > 1 ? ` (${num(s.rpsMin)}–${num(s.rpsMax)})` : "";
  return [
    "",
    ` ${s.name} `,
    ` ${num(s.rps)}${spread} `,
    ` ${ratio(s.ratioVsNginx)} `,
    ` ${ratio(s.ratioVsBestNode)} `,
    ` ${ms(s.p50)} / ${ms(s.p99)} / ${ms(s.p999)} `,
    ` ${signed(s.addedP99)} `,
    ` ${num(s.cpuUsPerReq, 1)} `,
    ` ${num(s.rssMb, 1)} `,
    ` ${s.rssAfterTtlMb == null ? "–" : num(s.rssAfterTtlMb, 1)} `,
    ` ${s.errors} `,
    ` ${num(s.generatorCpuPct)} `,
    "",
  ].join("|");
}

export function markdownReport(r: BenchResults, bar: BarLine[]): string {
  const m = r.meta;
  const out: string[] = [];
  out.push(`# Lanecar proxy benchmark — ${m.timestamp}`);
  out.push("");
  out.push(
    `${m.mode} run: ${m.rounds} round(s) × ${m.durationS} s per phase (after ${m.warmupS} s warm-up), ` +
      `${m.connections} connections, pipelining 1, \`GET ${m.path}\`; node ${m.node}, ${m.cores} × ${m.cpu}, ` +
      `load average at start ${m.loadavg.map((x) => x.toFixed(2)).join(" ")}; ${num(m.elapsedS)} s in all.`,
  );
  out.push("");
  out.push(
    `Latency columns are at a fixed ${num(m.rate)} req/s (${m.rateBasis}), paced evenly over the connections; ` +
      "added p99 is over `direct` at the same rate. Every number is the median of the rounds " +
      "(req/s also shows the min–max of the rounds); CPU is the proxy processes' user+system time per " +
      "request during the max-throughput phase; RSS is the processes' peak (VmHWM, summed for chains); " +
      "RSS after load+TTL is the Lanecar processes' resident set (VmRSS), idle, once the last round's " +
      "load is over and the correlation TTL has passed. " +
      "Every scenario is loaded with the same request stream by autocannon in a process of its own; " +
      "its CPU during the max-throughput phase is the last column (near 100% of a core, the generator " +
      "was the limit, not the proxy).",
  );
  out.push("");
  out.push(
    "| scenario | req/s (median) | vs nginx | vs best Node | p50 / p99 / p99.9 ms | added p99 ms | CPU µs/req | peak RSS MB | RSS after load+TTL MB | errors | load gen CPU % |",
  );
  out.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const s of r.scenarios) out.push(row(s));
  out.push("");
  out.push("![req/s and latency](latest.svg)");
  out.push("");
  out.push("## Bar");
  out.push("");
  out.push("```");
  out.push(formatBar(bar));
  out.push("```");
  out.push("");
  out.push("## Scenarios");
  out.push("");
  for (const s of r.scenarios) {
    out.push(`- **${s.name}** — ${s.description}`);
    if (s.rps === null)
      out.push(`  - unavailable: ${(s.reason ?? "did not run").split("\n").slice(0, 3).join(" / ")}`);
    for (const n of s.notes) out.push(`  - ${n}`);
    if (s.generatorCpuPct !== null && s.generatorCpuPct >= GENERATOR_BOUND_PCT) {
      out.push(
        `  - the load generator used ${num(s.generatorCpuPct)}% of a core in the max-throughput phase: its req/s may be the generator's limit, not the proxy's`,
      );
    }
    if (s.rps !== null && s.achievedRps !== null && s.achievedRps < m.rate * 0.95) {
      out.push(
        `  - reached only ${num(s.achievedRps)} of ${num(m.rate)} req/s in the latency phase: its latency is that of a saturated proxy`,
      );
    }
  }
  out.push("");
  out.push(`Round orders: ${m.orders.map((o, i) => `${i + 1}: ${o.join(", ")}`).join("; ")}.`);
  out.push("");
  return out.join("\n");
}
