/**
 * A real Prometheus (Debian's `prometheus` binary) for tests: a generated config scraping the
 * given targets every second, a temporary storage folder, a free port on loopback; queries go
 * through its HTTP API exactly as Flagger, Argo Rollouts, Kiali and Grafana send them.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../support/ports.js";

export interface ScrapeJob {
  job: string;
  /** `host:port` of admin APIs serving `/metrics`. */
  targets: readonly string[];
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export const SCRAPE_INTERVAL_S = 1;

/** The scrape config (YAML is a superset of JSON, so JSON it is: no YAML writer needed). */
export function scrapeConfig(jobs: readonly ScrapeJob[]): string {
  return JSON.stringify(
    {
      global: { scrape_interval: `${SCRAPE_INTERVAL_S}s`, evaluation_interval: `${SCRAPE_INTERVAL_S}s` },
      scrape_configs: jobs.map((j) => ({
        job_name: j.job,
        metrics_path: "/metrics",
        static_configs: [{ targets: j.targets }],
      })),
    },
    null,
    2,
  );
}

export class Prometheus {
  private constructor(
    private readonly proc: ChildProcess,
    private readonly dir: string,
    readonly url: string,
  ) {}

  static async start(jobs: readonly ScrapeJob[]): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), "lanecar-prometheus-"));
    writeFileSync(join(dir, "prometheus.yml"), scrapeConfig(jobs));
    const port = await freePort();
    const log = openSync(join(dir, "prometheus.log"), "a");
    const proc = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", log, log] },
    );
    const p = new Prometheus(proc, dir, `http://127.0.0.1:${port}`);
    const spawnError = new Promise<never>((_, reject) =>
      proc.once("error", (e) => reject(new Error(`cannot start prometheus: ${e.message}`))),
    );
    await Promise.race([p.waitReady(), spawnError]).catch(async (e) => {
      await p.stop();
      throw e;
    });
    return p;
  }

  private async waitReady(): Promise<void> {
    const until = Date.now() + 30_000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`prometheus exited:\n${this.log()}`);
      try {
        const r = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`prometheus not ready after 30 s:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, "prometheus.log"), "utf8").slice(-3000);
    } catch {
      return "";
    }
  }

  /** An instant query, evaluated now (or at `time`, seconds since the epoch). */
  async query(expr: string, time?: number): Promise<Sample[]> {
    const u = new URL(`${this.url}/api/v1/query`);
    u.searchParams.set("query", expr);
    if (time !== undefined) u.searchParams.set("time", String(time));
    const r = await fetch(u, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== "success" || !body.data) throw new Error(`query failed: ${body.error}\n  ${expr}`);
    if (body.data.resultType !== "vector") throw new Error(`not a vector: ${body.data.resultType}`);
    return body.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }

  /** The single value of a query that must return exactly one series. */
  async scalar(expr: string): Promise<number> {
    const r = await this.query(expr);
    if (r.length !== 1) throw new Error(`expected one series, got ${r.length}: ${expr}`);
    return r[0]!.value;
  }

  /** Polls `expr` until `ok(result)`; throws with the last result after `timeoutMs`. */
  async until(expr: string, ok: (r: Sample[]) => boolean, timeoutMs = 30_000): Promise<Sample[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.query(expr);
      if (ok(r)) return r;
      if (Date.now() > until)
        throw new Error(`timed out waiting for ${expr}; last: ${JSON.stringify(r).slice(0, 1000)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once("exit", r));
      this.proc.kill("SIGTERM");
      const t = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `promtool check metrics` over a /metrics body: the problems it reports, one per line. */
export function promtoolProblems(body: string): string[] {
  const r = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
  if (r.error) throw new Error(`cannot run promtool: ${r.error.message}`);
  return `${r.stdout}\n${r.stderr}`
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}
