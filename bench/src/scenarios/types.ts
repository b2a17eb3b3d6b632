/**
 * What a scenario is: something that, given the shared upstream, starts a proxy (or nothing, for
 * `direct`) in child processes and says what to load and which processes to measure.
 */
import type { LoadTarget } from "../load.js";
import type { Upstream } from "../upstream.js";

export interface BenchContext {
  upstream: Upstream;
  /** Path every scenario loads (`/small` unless `--path`). */
  path: string;
  /** A fresh temporary folder for this start (configs, pid files, logs). */
  tmp: string;
  /** The x-request-ids the load cycles through (the same for every scenario of a run). */
  requestIds: readonly string[];
  /** Environment for Lanecar processes (e.g. `LANECAR_CORRELATION_TTL` from `--correlation-ttl`). */
  lanecarEnv: Record<string, string>;
}

export interface Running {
  /** Where autocannon connects (`url`); the harness adds the request stream every scenario shares. */
  target: LoadTarget;
  /** Proxy processes whose CPU time and RSS count (descendants are included). Empty: none. */
  pids: number[];
  /** Run before each load phase (the lane scenario re-seeds the correlation store). */
  prepare?(): Promise<void>;
  /** Checks after the load; returns notes for the report (e.g. correlation hits). */
  inspect?(): Promise<string[]>;
  /** Notes known at start (e.g. "lane routing verified: gray"). */
  notes: string[];
  stop(): Promise<void>;
}

export type ScenarioKind = "baseline" | "lanecar" | "native" | "node";

export interface Scenario {
  name: string;
  kind: ScenarioKind;
  /** One line for the README and the report. */
  description: string;
  /** Why this scenario cannot run on this machine (missing binary, unbuilt CLI); undefined if it can. */
  unavailable(): string | undefined;
  start(ctx: BenchContext): Promise<Running>;
}
