/**
 * Load generation, as the harness sees it: autocannon runs in a child process of its own
 * (load-worker.ts), started on first use and kept for the whole run so every scenario is loaded
 * by the same warm generator; `stopLoadGenerator()` ends it.
 *
 * Every scenario gets the same request stream (`requestStream`): `GET <path>` with `Host:
 * upstream:8080` and an `x-request-id` cycling through a fixed set of ids, so the generator and
 * the upstream do the same work whatever sits in between, and the lane scenario can seed those
 * ids in its correlation store. A result also carries the generator's CPU time, so a phase the
 * generator could not drive faster is visible as such.
 */
import { type ChildProcess, fork } from "node:child_process";
import type autocannon from "autocannon";
import { distScript } from "./paths.js";
import { track } from "./proc.js";

/** How many distinct x-request-ids the load cycles through. */
export const REQUEST_IDS = 256;

/** Authority every scenario is loaded with (the Lanecar scenarios' service, `upstream:8080`). */
export const LOAD_AUTHORITY = "upstream:8080";

export interface LoadTarget {
  /** Origin and path autocannon connects to. */
  url: string;
  /** Request variants cycled through per connection (headers, path); default one GET of `url`. */
  requests?: autocannon.Request[];
  headers?: Record<string, string>;
}

export interface LoadJob {
  target: LoadTarget;
  connections: number;
  durationS: number;
  /** Fixed rate in req/s; closed loop when absent. */
  rate?: number;
  keepLatencies: boolean;
}

export interface LoadResult {
  /** Completed requests per second over the run. */
  rps: number;
  requests: number;
  durationS: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** CPU time (user + system) the load generator used during the run, seconds. */
  generatorCpuS: number;
  /** Per-response latencies in ms (only kept when asked). */
  latenciesMs: Float64Array | undefined;
}

/** `n` x-request-ids unique to this run. */
export function requestIds(n = REQUEST_IDS): string[] {
  const stamp = `${process.pid}-${Date.now().toString(36)}`;
  return Array.from({ length: n }, (_, i) => `bench-${stamp}-${i}`);
}

/** The request stream every scenario is loaded with (see the module comment). */
export function requestStream(path: string, ids: readonly string[]): autocannon.Request[] {
  return ids.map((id) => ({
    method: "GET",
    path,
    headers: { host: LOAD_AUTHORITY, "x-request-id": id },
  }));
}

interface Pending {
  resolve: (r: LoadResult) => void;
  reject: (e: Error) => void;
}

let worker: ChildProcess | undefined;
let ready: Promise<ChildProcess> | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

function generator(): Promise<ChildProcess> {
  ready ??= new Promise((resolve, reject) => {
    const child = fork(distScript("load-worker.js"), [], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, NODE_ENV: "production" },
    });
    track(child);
    worker = child;
    child.on("message", (m: { ready?: true; id?: number; result?: LoadResult; error?: string }) => {
      if (m.ready) return resolve(child);
      const p = pending.get(m.id!);
      if (!p) return;
      pending.delete(m.id!);
      if (m.error !== undefined) p.reject(new Error(`load generator: ${m.error}`));
      else p.resolve(m.result!);
    });
    child.once("exit", (code, signal) => {
      const err = new Error(`load generator exited (${signal ?? `code ${code}`})`);
      reject(err);
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      worker = undefined;
      ready = undefined;
    });
  });
  return ready;
}

async function run(job: LoadJob): Promise<LoadResult> {
  const child = await generator();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    child.send({ id, job });
  });
}

/** The generator's pid while it runs (its CPU time is reported per phase). */
export function loadGeneratorPid(): number | undefined {
  return worker?.pid;
}

/** Ends the load generator process (the harness calls it when a run is over). */
export async function stopLoadGenerator(): Promise<void> {
  const child = worker;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.disconnect();
  const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
  await gone;
  clearTimeout(timer);
}

/** Max throughput: `connections` connections as fast as they go, for `durationS` seconds. */
export function closedLoop(target: LoadTarget, durationS: number, connections = 50): Promise<LoadResult> {
  return run({ target, connections, durationS, keepLatencies: false });
}

/** Latency at `rate` requests/s spread evenly over `connections` paced connections. */
export function fixedRate(
  target: LoadTarget,
  durationS: number,
  rate: number,
  connections = 50,
): Promise<LoadResult> {
  return run({ target, connections, durationS, rate, keepLatencies: true });
}

export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Nearest-rank percentiles of latencies in ms. */
export function percentiles(latMs: Float64Array): Percentiles {
  if (latMs.length === 0) return { p50: Number.NaN, p99: Number.NaN, p999: Number.NaN, max: Number.NaN };
  const s = Float64Array.from(latMs).sort();
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[s.length - 1]! };
}
