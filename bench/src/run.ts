/**
 * The proxy harness: every scenario against one upstream, loaded by autocannon from this process.
 *
 *   node bench/dist/run.js                 # quick: 2 rounds × 2 s per phase (< 3 minutes, + 62 s idle RSS)
 *   node bench/dist/run.js --full          # 5 rounds × 10 s per phase
 *   options: --scenarios a,b  --duration S  --rounds N  --warmup S  --connections N
 *            --rate N (latency phase rate; default 50% of nginx's max)  --path /large
 *            --out DIR  --check (exit 1 unless every bar line passes)  --list
 *            --correlation-ttl S (Lanecar processes)  --rss-after-ttl S (0: skip the idle RSS)
 *
 * Method: rounds are interleaved — each round runs every scenario once, in an order rotated by
 * one per round — and the report gives medians over rounds. Per scenario and round: start the
 * proxy (child processes), warm up, measure max throughput (closed loop) with the CPU time of
 * the proxy processes, then latency at a fixed rate, then read peak RSS, then stop it. The fixed
 * rate is 50% of nginx's max throughput, measured first in round 1 (nginx opens round 1).
 * The last round's Lanecar processes are kept idle afterwards and their RSS read once the
 * correlation TTL has passed since their load (`--rss-after-ttl S`, 0 to skip; idle-rss.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type BarLine, evaluateBar, formatBar } from "./bar.js";
import { IdleRssProbe } from "./idle-rss.js";
import {
  closedLoop,
  fixedRate,
  type LoadResult,
  type LoadTarget,
  percentiles,
  requestIds,
  requestStream,
  stopLoadGenerator,
} from "./load.js";
import { RESULTS_DIR } from "./paths.js";
import { cpuSeconds, failureSummary, processTree, statusKb } from "./proc.js";
import { markdownReport } from "./report.js";
import { type BenchResults, type RoundSample, type ScenarioResult, summarize } from "./results.js";
import { type BenchContext, SCENARIOS, type Scenario, scenarioByName } from "./scenarios/index.js";
import type { Running } from "./scenarios/types.js";
import { svgChart } from "./svg.js";
import { startUpstream, type Upstream } from "./upstream.js";

export interface BenchOptions {
  mode: "quick" | "full" | "custom";
  scenarios: string[];
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  /** Fixed rate of the latency phase; default `rateFraction` × nginx's max. */
  rate?: number;
  rateFraction: number;
  path: string;
  outDir: string;
  log: (line: string) => void;
  /**
   * Seconds after the last round's load at which Lanecar processes' idle RSS is read; 0 skips.
   * Default: Lanecar's correlation TTL (60 s, or `--correlation-ttl`) + 2 s (one purge tick).
   */
  rssAfterTtlS: number;
  /** Correlation TTL the Lanecar processes run with (seconds); default Lanecar's own, 60. */
  correlationTtlS?: number;
}

/** Lanecar's default correlation TTL (SPEC section 4), seconds. */
export const LANECAR_CORRELATION_TTL_S = 60;

export const QUICK = { rounds: 2, durationS: 2, warmupS: 1 } as const;
export const FULL = { rounds: 5, durationS: 10, warmupS: 1 } as const;

export function defaultOptions(): BenchOptions {
  return {
    mode: "quick",
    scenarios: SCENARIOS.map((s) => s.name),
    ...QUICK,
    connections: 50,
    rateFraction: 0.5,
    path: "/small",
    outDir: RESULTS_DIR,
    rssAfterTtlS: LANECAR_CORRELATION_TTL_S + 2,
    log: (l) => process.stdout.write(`${l}\n`),
  };
}

export class UsageError extends Error {}

export function parseArgs(
  argv: string[],
  base: BenchOptions = defaultOptions(),
): BenchOptions & { check: boolean; list: boolean } {
  const o = { ...base, check: false, list: false };
  let explicit = false;
  let rssExplicit = false;
  const value = (i: number, name: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`--${name} needs a value`);
    return v;
  };
  const positive = (v: string, name: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} "${v}" is not a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes("=")
      ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
      : [a, undefined];
    const take = (name: string) => inline ?? value(i++, name);
    switch (flag) {
      case "--full":
        Object.assign(o, FULL, { mode: "full" });
        break;
      case "--quick":
        Object.assign(o, QUICK, { mode: "quick" });
        break;
      case "--scenarios": {
        const names = take("scenarios")
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
        for (const n of names)
          if (!scenarioByName(n))
            throw new UsageError(
              `unknown scenario "${n}" (known: ${SCENARIOS.map((s) => s.name).join(", ")})`,
            );
        o.scenarios = names;
        break;
      }
      case "--duration":
        o.durationS = positive(take("duration"), "duration");
        explicit = true;
        break;
      case "--rounds":
        o.rounds = Math.round(positive(take("rounds"), "rounds"));
        explicit = true;
        break;
      case "--warmup":
        o.warmupS = positive(take("warmup"), "warmup");
        break;
      case "--connections":
        o.connections = Math.round(positive(take("connections"), "connections"));
        break;
      case "--rate":
        o.rate = positive(take("rate"), "rate");
        break;
      case "--path": {
        const p = take("path");
        if (!p.startsWith("/")) throw new UsageError(`--path "${p}" must start with /`);
        o.path = p;
        break;
      }
      case "--out":
        o.outDir = take("out");
        break;
      case "--correlation-ttl": {
        o.correlationTtlS = positive(take("correlation-ttl"), "correlation-ttl");
        if (!rssExplicit) o.rssAfterTtlS = o.correlationTtlS + 2;
        break;
      }
      case "--rss-after-ttl": {
        const v = take("rss-after-ttl");
        o.rssAfterTtlS = v === "0" ? 0 : positive(v, "rss-after-ttl");
        rssExplicit = true;
        break;
      }
      case "--check":
        o.check = true;
        break;
      case "--list":
        o.list = true;
        break;
      default:
        throw new UsageError(`unknown option "${a}"`);
    }
  }
  if (explicit && o.mode === "quick") o.mode = "custom";
  return o;
}

/** Where the latency-phase rate comes from when `--rate` is not given, in order of preference. */
const RATE_BASIS = ["nginx", "haproxy", "direct"];

function phaseErrors(r: LoadResult) {
  return { errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx };
}

function rssOf(pids: readonly number[]): { sum: number | null; max: number | null } {
  if (pids.length === 0) return { sum: null, max: null };
  const kb = pids.map((p) => statusKb(p, "VmHWM") ?? 0);
  return { sum: kb.reduce((a, b) => a + b, 0) / 1024, max: Math.max(...kb) / 1024 };
}

export interface BenchRun {
  results: BenchResults;
  bar: BarLine[];
  files: { json: string; md: string; svg: string };
}

export async function runBench(opts: BenchOptions): Promise<BenchRun> {
  const t0 = Date.now();
  const log = opts.log;
  const load = loadavg();
  const selected = opts.scenarios.map((n) => {
    const s = scenarioByName(n);
    if (!s) throw new UsageError(`unknown scenario "${n}"`);
    return s;
  });
  const results = new Map<string, ScenarioResult>();
  for (const s of SCENARIOS) {
    if (!selected.includes(s)) continue;
    const reason = s.unavailable();
    results.set(s.name, {
      name: s.name,
      kind: s.kind,
      description: s.description,
      available: reason === undefined,
      ...(reason !== undefined ? { reason } : {}),
      rounds: [],
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
    });
    if (reason !== undefined) log(`- ${s.name}: unavailable: ${reason}`);
  }
  const runnable = () => selected.filter((s) => results.get(s.name)!.available);

  let rate = opts.rate;
  let rateBasis = rate !== undefined ? "--rate" : "";
  const basis =
    rate === undefined
      ? (RATE_BASIS.map((n) => runnable().find((s) => s.name === n)).find(Boolean) ?? runnable()[0])
      : undefined;
  // The rate basis opens round 1, so its first max-throughput phase sets the rate for everyone.
  const base = SCENARIOS.filter((s) => selected.includes(s));
  if (basis) {
    base.splice(base.indexOf(basis), 1);
    base.unshift(basis);
  }

  const tmpRoot = mkdtempSync(join(tmpdir(), "lanecar-bench-"));
  const ids = requestIds();
  const lanecarEnv: Record<string, string> =
    opts.correlationTtlS !== undefined ? { LANECAR_CORRELATION_TTL: `${opts.correlationTtlS}s` } : {};
  const idle = new IdleRssProbe(opts.rssAfterTtlS);
  let upstream: Upstream | undefined;
  const orders: string[][] = [];
  try {
    upstream = await startUpstream();
    log(
      `upstream on ${upstream.url} (pid ${upstream.child.pid}); ${opts.rounds} round(s) × ${opts.durationS} s, ${opts.connections} connections`,
    );
    for (let round = 0; round < opts.rounds; round++) {
      const k = round % base.length;
      const order = [...base.slice(k), ...base.slice(0, k)];
      orders.push(order.map((s) => s.name));
      log(`round ${round + 1}/${opts.rounds}: ${order.map((s) => s.name).join(" → ")}`);
      let position = 0;
      for (const sc of order) {
        const res = results.get(sc.name)!;
        if (!res.available) continue;
        const ctx: BenchContext = {
          upstream,
          path: opts.path,
          tmp: mkdtempSync(join(tmpRoot, `${sc.name}-`)),
          requestIds: ids,
          lanecarEnv,
        };
        const keep =
          round === opts.rounds - 1 && sc.kind === "lanecar" && opts.rssAfterTtlS > 0
            ? (running: Running, pids: number[]) => idle.keep(sc.name, running, pids)
            : undefined;
        try {
          const sample = await measure(sc, ctx, opts, round, position++, keep, (measuredRps) => {
            // Normally the basis (nginx) sets the rate; if it could not run, the first scenario that did.
            if (rate === undefined) {
              rate = Math.max(1, Math.round(measuredRps * opts.rateFraction));
              rateBasis = `${Math.round(opts.rateFraction * 100)}% of ${sc.name}'s max in round ${round + 1}`;
              if (sc !== basis) rateBasis += ` (${basis?.name ?? "the basis"} did not run)`;
              log(`  latency phases run at ${rate} req/s (${rateBasis})`);
            }
            return rate;
          });
          res.rounds.push(sample);
          const t = sample.throughput;
          const l = sample.latency;
          log(
            `  ${sc.name.padEnd(20)} ${Math.round(t.rps).toString().padStart(7)} req/s  p50 ${l.p50.toFixed(3)} p99 ${l.p99.toFixed(3)} p99.9 ${l.p999.toFixed(3)} ms` +
              `  cpu ${t.cpuUsPerReq === null ? "–" : t.cpuUsPerReq.toFixed(1)} µs/req  gen ${Math.round(t.generatorCpuPct)}%  rss ${sample.rssMb === null ? "–" : sample.rssMb.toFixed(1)} MB` +
              `  errors ${t.errors + t.non2xx + l.errors + l.non2xx}`,
          );
          for (const n of sample.notes) log(`    ${n}`);
        } catch (err) {
          res.available = false;
          const msg = (err as Error).message;
          const first = msg.split("\n")[0]!;
          const detail = failureSummary(msg.split("\n").slice(1).join("\n"));
          res.reason = detail && detail !== first ? `${first}: ${detail}` : first;
          res.notes.push(
            ...msg
              .split("\n")
              .slice(1, 12)
              .filter(Boolean)
              .map((l) => `output: ${l.trim()}`),
          );
          log(`  ${sc.name}: unavailable: ${res.reason}`);
        }
      }
    }
    for (const [name, r] of await idle.readAll(log)) {
      const res = results.get(name)!;
      res.rssAfterTtlMb = r.sumMb;
      res.rssAfterTtlMaxProcMb = r.maxProcMb;
    }
  } finally {
    await idle.stopAll();
    await stopLoadGenerator();
    await upstream?.child.stop();
    rmSync(tmpRoot, { recursive: true, force: true });
  }

  const scenarios = summarize([...results.values()]);
  const now = new Date(t0);
  const results_: BenchResults = {
    meta: {
      timestamp: now.toISOString().replace(/\.\d+Z$/, "Z"),
      mode: opts.mode,
      node: process.version,
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      loadavg: load,
      rounds: opts.rounds,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      connections: opts.connections,
      path: opts.path,
      rate: rate ?? 0,
      rateBasis: rateBasis || "none (nothing ran)",
      orders,
      elapsedS: (Date.now() - t0) / 1000,
    },
    scenarios,
  };
  const bar = evaluateBar(results_);
  mkdirSync(opts.outDir, { recursive: true });
  const stamp = results_.meta.timestamp.replace(/:/g, "-");
  const files = {
    json: join(opts.outDir, `${stamp}.json`),
    md: join(opts.outDir, "latest.md"),
    svg: join(opts.outDir, "latest.svg"),
  };
  const json = `${JSON.stringify({ ...results_, bar }, null, 2)}\n`;
  writeFileSync(files.json, json);
  // The copy that is committed (timestamped files are not).
  writeFileSync(join(opts.outDir, "latest.json"), json);
  writeFileSync(files.md, markdownReport(results_, bar));
  writeFileSync(files.svg, svgChart(results_));
  return { results: results_, bar, files };
}

async function measure(
  sc: Scenario,
  ctx: BenchContext,
  opts: BenchOptions,
  round: number,
  position: number,
  keep: ((running: Running, pids: number[]) => void) | undefined,
  rateFor: (maxRps: number) => number,
): Promise<RoundSample> {
  const running = await sc.start(ctx);
  let kept = false;
  try {
    const tree = () => running.pids.flatMap((p) => processTree(p));
    // Every scenario is loaded with the same request stream; the scenario only says where.
    const target: LoadTarget = {
      url: running.target.url,
      requests: requestStream(new URL(running.target.url).pathname, ctx.requestIds),
    };
    await running.prepare?.();
    const warm = await closedLoop(target, opts.warmupS, opts.connections);

    await running.prepare?.();
    const pids = tree();
    const cpu0 = cpuSeconds(pids);
    const tp = await closedLoop(target, opts.durationS, opts.connections);
    const cpu = cpuSeconds(pids) - cpu0;
    const rate = rateFor(tp.rps);

    await running.prepare?.();
    const lat = await fixedRate(target, opts.durationS, rate, opts.connections);
    const p = percentiles(lat.latenciesMs ?? new Float64Array(0));
    const rss = rssOf(tree());
    const notes = [...running.notes, ...((await running.inspect?.()) ?? [])];
    const sample: RoundSample = {
      round,
      position,
      warmup: { rps: warm.rps, ...phaseErrors(warm) },
      throughput: {
        rps: tp.rps,
        requests: tp.requests,
        durationS: tp.durationS,
        cpuUsPerReq: pids.length > 0 && tp.requests > 0 ? (cpu * 1e6) / tp.requests : null,
        generatorCpuPct: tp.durationS > 0 ? (100 * tp.generatorCpuS) / tp.durationS : 0,
        ...phaseErrors(tp),
      },
      latency: {
        targetRate: rate,
        achievedRps: lat.rps,
        p50: p.p50,
        p99: p.p99,
        p999: p.p999,
        max: p.max,
        samples: lat.latenciesMs?.length ?? 0,
        ...phaseErrors(lat),
      },
      rssMb: rss.sum,
      rssMaxProcMb: rss.max,
      notes,
    };
    if (keep) {
      // Left running, idle, for the RSS after load + TTL (stopped by the probe).
      keep(running, tree());
      kept = true;
    }
    return sample;
  } finally {
    if (!kept) await running.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  let o: ReturnType<typeof parseArgs>;
  try {
    o = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (o.list) {
    for (const s of SCENARIOS) {
      const why = s.unavailable();
      process.stdout.write(`${s.name.padEnd(22)} ${s.description}${why ? `  [unavailable: ${why}]` : ""}\n`);
    }
    return 0;
  }
  const run = await runBench(o);
  process.stdout.write(
    `\n${formatBar(run.bar)}\n\nwrote ${run.files.json}\n      ${run.files.md}\n      ${run.files.svg}\n`,
  );
  return o.check && run.bar.some((l) => l.status !== "PASS") ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
