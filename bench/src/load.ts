/**
 * Load generation through autocannon's API, in the harness process.
 *
 * - `closedLoop`: max throughput — N connections, pipelining 1, each sends its next request as
 *   soon as the previous response is complete.
 * - `fixedRate`: latency at a set rate (`overallRate`). autocannon's own rate limit lets each
 *   connection send back to back until its per-second quota is used and then waits for the next
 *   second, which measures bursts at full speed rather than a steady load. So each connection is
 *   also paced (`setupClient` spaces its requests `connections / rate` seconds apart, like wrk2),
 *   and latencies are taken per response at microsecond resolution (autocannon's histogram rounds
 *   to whole milliseconds, which hides everything a proxy adds on loopback).
 */
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";

export interface LoadTarget {
  url: string;
  /** Request variants cycled through per connection (headers, path); default one GET of `url`. */
  requests?: autocannon.Request[];
  headers?: Record<string, string>;
}

export interface LoadResult {
  /** Completed requests per second over the run. */
  rps: number;
  requests: number;
  durationS: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Per-response latencies in ms (only kept when asked). */
  latenciesMs: Float64Array | undefined;
}

interface RunOptions {
  connections: number;
  durationS: number;
  rate?: number;
  keepLatencies: boolean;
}

function run(target: LoadTarget, o: RunOptions): Promise<LoadResult> {
  let lat = o.keepLatencies ? new Float64Array(1 << 16) : undefined;
  let n = 0;
  const opts: autocannon.Options = {
    url: target.url,
    connections: o.connections,
    pipelining: 1,
    duration: o.durationS,
    sampleInt: 100,
    timeout: 10,
    headers: target.headers,
    requests: target.requests,
  };
  if (o.rate !== undefined && o.rate > 0) {
    opts.overallRate = Math.round(o.rate);
    const intervalMs = (1000 * o.connections) / o.rate;
    opts.setupClient = (client) => {
      const send = client._doRequest;
      // Stagger the connections across one interval so they do not fire together.
      let next = performance.now() + Math.random() * intervalMs;
      client._doRequest = function paced(this: autocannon.Client, ...args: unknown[]) {
        const now = performance.now();
        // Fallen behind by more than a slot (a slow response): start afresh, never burst to catch up.
        if (next < now - intervalMs) next = now;
        const wait = next - now;
        next += intervalMs;
        if (wait < 0.25) return send.apply(this, args);
        setTimeout(() => {
          if (!client.destroyed) send.apply(client, args);
        }, wait);
      };
    };
  }
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, r) => {
      if (err) return reject(err);
      const requests = r.requests.total;
      resolve({
        rps: r.duration > 0 ? requests / r.duration : 0,
        requests,
        durationS: r.duration,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        latenciesMs: lat ? lat.subarray(0, n) : undefined,
      });
    });
    if (lat) {
      instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
        if (status < 200 || status > 299) return;
        if (n === lat!.length) {
          const bigger = new Float64Array(lat!.length * 2);
          bigger.set(lat!);
          lat = bigger;
        }
        lat![n++] = ms;
      });
    }
  });
}

/** Max throughput: `connections` connections as fast as they go, for `durationS` seconds. */
export function closedLoop(target: LoadTarget, durationS: number, connections = 50): Promise<LoadResult> {
  return run(target, { connections, durationS, keepLatencies: false });
}

/** Latency at `rate` requests/s spread evenly over `connections` paced connections. */
export function fixedRate(
  target: LoadTarget,
  durationS: number,
  rate: number,
  connections = 50,
): Promise<LoadResult> {
  return run(target, { connections, durationS, rate, keepLatencies: true });
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
