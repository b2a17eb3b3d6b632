/**
 * The bar Lanecar has to clear, evaluated on a harness run:
 *
 * 1. full lane path (`lanecar-lanes`) throughput ≥ 1.3 × the faster of @fastify/http-proxy and
 *    http-proxy, and ≥ 0.5 × nginx (one worker);
 * 2. its added p99 at the fixed rate (50% of nginx's max) ≤ 2 × nginx's added p99 (nginx's is
 *    floored at 0.05 ms: below that the comparison measures timer noise, not the proxy);
 * 3. peak RSS of any one Lanecar process ≤ 100 MB on the codec data path (the public-API fallback,
 *    `*-fallback` scenarios, is reported beside it but is a degraded mode, not held to the bar);
 * 4. zero errors (connection errors, timeouts, non-2xx) in every Lanecar scenario, and the lane
 *    check of every lane scenario passed;
 * 5. mutual TLS between sidecars (`lanecar-lanes-mtls`: sidecar → TLS → sidecar) throughput
 *    ≥ 0.5 × its native twin `nginx-ssl` (nginx → TLS → nginx, one worker each).
 *
 *   node bench/dist/bar.js [results.json] [--check]    # default: the newest bench/results/<timestamp>.json
 *
 * Prints PASS / FAIL / SKIP per line; exits non-zero only with `--check` (then SKIP fails too).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { RESULTS_DIR } from "./paths.js";
import { type BenchResults, NODE_PEERS, type ScenarioResult } from "./results.js";

export type BarStatus = "PASS" | "FAIL" | "SKIP";

export interface BarLine {
  status: BarStatus;
  rule: string;
  detail: string;
}

export const BAR = {
  lanesOverBestNode: 1.3,
  lanesOverNginx: 0.5,
  addedP99OverNginx: 2,
  nginxAddedP99FloorMs: 0.05,
  sidecarRssMb: 100,
  mtlsOverNginxSsl: 0.5,
} as const;

const LANES = "lanecar-lanes";
const LANES_MTLS = "lanecar-lanes-mtls";
const NGINX_SSL = "nginx-ssl";
/** Scenarios whose start checks that a correlated request reached the gray lane. */
const LANE_CHECKED = [LANES, "lanecar-lanes-chain", LANES_MTLS];

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function evaluateBar(results: BenchResults): BarLine[] {
  const by = (n: string): ScenarioResult | undefined => results.scenarios.find((s) => s.name === n);
  const ran = (s: ScenarioResult | undefined): s is ScenarioResult => s !== undefined && s.rps !== null;
  const why = (n: string) => {
    const s = by(n);
    return s === undefined
      ? `${n} not in this run`
      : `${n} unavailable: ${(s.reason ?? "did not run").split("\n")[0]}`;
  };
  const lines: BarLine[] = [];
  const lanes = by(LANES);
  const nginx = by("nginx");

  // 1. Throughput against the Node proxies and nginx.
  const peers = NODE_PEERS.map(by).filter(ran);
  const rule1 = `${LANES} req/s ≥ ${BAR.lanesOverBestNode}× the faster of ${NODE_PEERS.join(", ")}`;
  if (!ran(lanes)) lines.push({ status: "SKIP", rule: rule1, detail: why(LANES) });
  else if (peers.length === 0)
    lines.push({ status: "SKIP", rule: rule1, detail: `none of ${NODE_PEERS.join(", ")} ran` });
  else {
    const best = peers.reduce((a, b) => (b.rps! > a.rps! ? b : a));
    const ratio = lanes.rps! / best.rps!;
    lines.push({
      status: ratio >= BAR.lanesOverBestNode ? "PASS" : "FAIL",
      rule: rule1,
      detail: `${fmt(lanes.rps!)} vs ${best.name} ${fmt(best.rps!)} = ${fmt(ratio, 2)}×`,
    });
  }
  const rule2 = `${LANES} req/s ≥ ${BAR.lanesOverNginx}× nginx (1 worker)`;
  if (!ran(lanes)) lines.push({ status: "SKIP", rule: rule2, detail: why(LANES) });
  else if (!ran(nginx)) lines.push({ status: "SKIP", rule: rule2, detail: why("nginx") });
  else {
    const ratio = lanes.rps! / nginx.rps!;
    lines.push({
      status: ratio >= BAR.lanesOverNginx ? "PASS" : "FAIL",
      rule: rule2,
      detail: `${fmt(lanes.rps!)} vs nginx ${fmt(nginx.rps!)} = ${fmt(ratio, 2)}×`,
    });
  }

  // 2. Added p99 at the fixed rate.
  const rule3 = `${LANES} added p99 at ${fmt(results.meta.rate)} req/s ≤ ${BAR.addedP99OverNginx}× nginx's added p99`;
  if (!ran(lanes)) lines.push({ status: "SKIP", rule: rule3, detail: why(LANES) });
  else if (!ran(nginx)) lines.push({ status: "SKIP", rule: rule3, detail: why("nginx") });
  else if (lanes.addedP99 === null || nginx.addedP99 === null)
    lines.push({ status: "SKIP", rule: rule3, detail: why("direct") });
  else {
    const ref = Math.max(nginx.addedP99, BAR.nginxAddedP99FloorMs);
    const limit = BAR.addedP99OverNginx * ref;
    lines.push({
      status: lanes.addedP99 <= limit ? "PASS" : "FAIL",
      rule: rule3,
      detail: `+${fmt(lanes.addedP99, 3)} ms vs nginx +${fmt(nginx.addedP99, 3)} ms (limit ${fmt(limit, 3)} ms)`,
    });
  }

  // 3. Memory of each Lanecar process.
  const lanecar = results.scenarios.filter((s) => s.kind === "lanecar");
  const lanecarRan = lanecar.filter(ran);
  const rule4 = `peak RSS of a Lanecar process ≤ ${BAR.sidecarRssMb} MB (codec data path)`;
  const codecRan = lanecarRan.filter((s) => !s.name.endsWith("-fallback"));
  if (codecRan.length === 0) lines.push({ status: "SKIP", rule: rule4, detail: "no Lanecar scenario ran" });
  else {
    const worst = codecRan.reduce((a, b) => ((b.rssMaxProcMb ?? 0) > (a.rssMaxProcMb ?? 0) ? b : a));
    const mb = worst.rssMaxProcMb ?? Number.NaN;
    lines.push({
      status: mb <= BAR.sidecarRssMb ? "PASS" : "FAIL",
      rule: rule4,
      detail: lanecarRan.map((s) => `${s.name} ${fmt(s.rssMaxProcMb ?? Number.NaN, 1)} MB`).join(", "),
    });
  }

  // 4. Errors and the lane check.
  const rule5 = "zero errors in every Lanecar scenario (connection errors, timeouts, non-2xx)";
  if (lanecarRan.length === 0) lines.push({ status: "SKIP", rule: rule5, detail: "no Lanecar scenario ran" });
  else {
    const bad = lanecarRan.filter((s) => s.errors > 0);
    lines.push({
      status: bad.length === 0 ? "PASS" : "FAIL",
      rule: rule5,
      detail: lanecarRan.map((s) => `${s.name} ${s.errors}`).join(", "),
    });
  }
  const rule6 = "lane scenarios: correlated requests reach the gray lane";
  const checked = LANE_CHECKED.map(by).filter(ran);
  if (checked.length === 0) lines.push({ status: "SKIP", rule: rule6, detail: why(LANES) });
  else {
    const failed = checked.flatMap((s) =>
      s.notes.filter((n) => n.startsWith("LANE CHECK FAILED")).map((n) => `${s.name}: ${n}`),
    );
    lines.push({
      status: failed.length > 0 ? "FAIL" : "PASS",
      rule: rule6,
      detail:
        failed.length > 0
          ? failed.join("; ")
          : `upstream saw trafficlabel=gray (${checked.map((s) => s.name).join(", ")})`,
    });
  }

  // 5. Mutual TLS between sidecars against nginx proxying over mutual TLS.
  const mtls = by(LANES_MTLS);
  const nginxSsl = by(NGINX_SSL);
  const rule7 = `${LANES_MTLS} req/s ≥ ${BAR.mtlsOverNginxSsl}× ${NGINX_SSL} (nginx → mTLS → nginx)`;
  if (!ran(mtls)) lines.push({ status: "SKIP", rule: rule7, detail: why(LANES_MTLS) });
  else if (!ran(nginxSsl)) lines.push({ status: "SKIP", rule: rule7, detail: why(NGINX_SSL) });
  else {
    const ratio = mtls.rps! / nginxSsl.rps!;
    lines.push({
      status: ratio >= BAR.mtlsOverNginxSsl ? "PASS" : "FAIL",
      rule: rule7,
      detail: `${fmt(mtls.rps!)} vs ${NGINX_SSL} ${fmt(nginxSsl.rps!)} = ${fmt(ratio, 2)}×`,
    });
  }
  const unavailable = lanecar.filter((s) => s.rps === null);
  if (unavailable.length > 0 && lanecarRan.length > 0) {
    lines.push({
      status: "SKIP",
      rule: "every Lanecar scenario ran",
      detail: unavailable.map((s) => why(s.name)).join("; "),
    });
  }
  return lines;
}

export function formatBar(lines: BarLine[]): string {
  return lines.map((l) => `${l.status.padEnd(4)}  ${l.rule}: ${l.detail}`).join("\n");
}

/** The newest `<timestamp>.json` in bench/results. */
export function newestResults(dir = RESULTS_DIR): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}-\d{2}-\d{2}T.*\.json$/.test(f))
    .sort();
  const last = files[files.length - 1];
  return last ? join(dir, last) : undefined;
}

function main(argv: string[]): number {
  const check = argv.includes("--check");
  const file = argv.find((a) => !a.startsWith("--")) ?? newestResults();
  if (!file) {
    process.stderr.write(`no results in ${RESULTS_DIR}: run pnpm bench first\n`);
    return 2;
  }
  const results = JSON.parse(readFileSync(file, "utf8")) as BenchResults;
  const lines = evaluateBar(results);
  process.stdout.write(`bar for ${file}\n${formatBar(lines)}\n`);
  return check && lines.some((l) => l.status !== "PASS") ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
