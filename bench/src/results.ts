/**
 * The shape of a harness run's results (the JSON written to bench/results/<timestamp>.json) and
 * how per-round samples become the medians and ratios the report shows.
 */
import type { ScenarioKind } from "./scenarios/types.js";

export interface PhaseErrors {
  /** Connection errors and timeouts (autocannon `errors`, which includes `timeouts`). */
  errors: number;
  timeouts: number;
  /** Responses that were not 2xx. */
  non2xx: number;
}

export interface RoundSample {
  round: number;
  /** Position in this round's order (0 = first). */
  position: number;
  warmup: PhaseErrors & { rps: number };
  throughput: PhaseErrors & {
    rps: number;
    requests: number;
    durationS: number;
    cpuUsPerReq: number | null;
    /** CPU the load generator (autocannon, its own process) used, % of one core; ~100 = it was the limit. */
    generatorCpuPct: number;
  };
  latency: PhaseErrors & {
    targetRate: number;
    achievedRps: number;
    p50: number;
    p99: number;
    p999: number;
    max: number;
    samples: number;
  };
  /** Sum of the processes' peak RSS (VmHWM), MB; null when no process (direct). */
  rssMb: number | null;
  /** The largest single process's peak RSS, MB. */
  rssMaxProcMb: number | null;
  notes: string[];
}

export interface ScenarioResult {
  name: string;
  kind: ScenarioKind;
  description: string;
  available: boolean;
  /** Why it did not run (missing binary, the CLI failed to start...). */
  reason?: string;
  rounds: RoundSample[];
  /** Medians over rounds (null when the scenario did not run). */
  rps: number | null;
  rpsMin: number | null;
  rpsMax: number | null;
  p50: number | null;
  p99: number | null;
  p999: number | null;
  achievedRps: number | null;
  /** Latency over `direct` at the same rate, ms (null without a direct run). */
  addedP50: number | null;
  addedP99: number | null;
  addedP999: number | null;
  cpuUsPerReq: number | null;
  /** The load generator's CPU in the max-throughput phase, % of one core (median). */
  generatorCpuPct: number | null;
  /** Highest over rounds. */
  rssMb: number | null;
  rssMaxProcMb: number | null;
  /**
   * Lanecar scenarios: resident set (VmRSS, summed for chains, and the largest process) after the
   * last round's load plus the correlation TTL, idle (idle-rss.ts); absent when not measured.
   */
  rssAfterTtlMb?: number | null;
  rssAfterTtlMaxProcMb?: number | null;
  /** Errors + timeouts + non-2xx over the measured phases of all rounds. */
  errors: number;
  ratioVsNginx: number | null;
  ratioVsBestNode: number | null;
  notes: string[];
}

export interface BenchMeta {
  timestamp: string;
  mode: "quick" | "full" | "custom";
  node: string;
  cpu: string;
  cores: number;
  loadavg: number[];
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  path: string;
  /** The fixed rate of the latency phase, req/s. */
  rate: number;
  /** What the rate is derived from: `0.5 × nginx` (first round), or `--rate`. */
  rateBasis: string;
  /** The scenario order of each round (rotated). */
  orders: string[][];
  elapsedS: number;
}

export interface BenchResults {
  meta: BenchMeta;
  scenarios: ScenarioResult[];
}

export function median(xs: readonly number[]): number | null {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function maxOf(xs: readonly (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length === 0 ? null : Math.max(...v);
}

const METRIC_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? \S+$/;

/** The Node proxies the bar compares with (the faster of the two counts). */
export const NODE_PEERS = ["fastify-http-proxy", "http-proxy"] as const;

/** Fills the medians, added latency and ratios of every scenario from its rounds. */
export function summarize(scenarios: ScenarioResult[]): ScenarioResult[] {
  for (const s of scenarios) {
    const r = s.rounds;
    const ran = r.length > 0;
    s.rps = ran ? median(r.map((x) => x.throughput.rps)) : null;
    s.rpsMin = ran ? Math.min(...r.map((x) => x.throughput.rps)) : null;
    s.rpsMax = ran ? Math.max(...r.map((x) => x.throughput.rps)) : null;
    s.p50 = ran ? median(r.map((x) => x.latency.p50)) : null;
    s.p99 = ran ? median(r.map((x) => x.latency.p99)) : null;
    s.p999 = ran ? median(r.map((x) => x.latency.p999)) : null;
    s.achievedRps = ran ? median(r.map((x) => x.latency.achievedRps)) : null;
    s.cpuUsPerReq = ran ? median(r.map((x) => x.throughput.cpuUsPerReq ?? Number.NaN)) : null;
    s.generatorCpuPct = ran ? median(r.map((x) => x.throughput.generatorCpuPct ?? Number.NaN)) : null;
    s.rssMb = maxOf(r.map((x) => x.rssMb));
    s.rssMaxProcMb = maxOf(r.map((x) => x.rssMaxProcMb));
    s.errors = r.reduce(
      (n, x) => n + x.throughput.errors + x.throughput.non2xx + x.latency.errors + x.latency.non2xx,
      0,
    );
    // Metric lines (`name{labels} value`) change every round: keep only the last round's.
    const metric = (n: string) => METRIC_LINE.test(n);
    const last = r[r.length - 1]?.notes.filter(metric) ?? [];
    s.notes = [...new Set([...s.notes, ...r.flatMap((x) => x.notes.filter((n) => !metric(n))), ...last])];
  }
  const by = (n: string) => scenarios.find((s) => s.name === n && s.rps !== null);
  const direct = by("direct");
  const nginx = by("nginx");
  const peers = NODE_PEERS.map(by).filter((s): s is ScenarioResult => s !== undefined);
  const bestNode = peers.length > 0 ? Math.max(...peers.map((p) => p.rps!)) : null;
  for (const s of scenarios) {
    const sub = (a: number | null, b: number | null | undefined) =>
      a === null || b === null || b === undefined ? null : a - b;
    s.addedP50 = sub(s.p50, direct?.p50);
    s.addedP99 = sub(s.p99, direct?.p99);
    s.addedP999 = sub(s.p999, direct?.p999);
    s.ratioVsNginx = s.rps !== null && nginx?.rps ? s.rps / nginx.rps : null;
    s.ratioVsBestNode = s.rps !== null && bestNode ? s.rps / bestNode : null;
  }
  return scenarios;
}
