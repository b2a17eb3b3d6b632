/**
 * The load generator: autocannon, driven through its API, in a child process of its own
 * (started once per harness run by load.ts, which talks to it over IPC). Keeping it out of the
 * harness process means the harness's own work (reading /proc, seeding, logging, collecting
 * latencies) never shares an event loop with the load, and its CPU time can be measured: a
 * generator near 100% of a core is the bottleneck, not the proxy, and the report says so.
 *
 * - closed loop (no `rate`): max throughput — N connections, pipelining 1, each sends its next
 *   request as soon as the previous response is complete.
 * - fixed rate: autocannon's own rate limit (`overallRate`) lets each connection send back to
 *   back until its per-second quota is used and then wait for the next second, which measures
 *   bursts at full speed rather than a steady load. So each connection is also paced
 *   (`setupClient` spaces its requests `connections / rate` seconds apart, like wrk2), and
 *   latencies are taken per response at microsecond resolution (autocannon's histogram rounds
 *   to whole milliseconds, which hides everything a proxy adds on loopback).
 */
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import autocannon from "autocannon";
import type { LoadJob, LoadResult } from "./load.js";

export function runAutocannon(job: LoadJob): Promise<LoadResult> {
  const { target } = job;
  let lat = job.keepLatencies ? new Float64Array(1 << 16) : undefined;
  let n = 0;
  const opts: autocannon.Options = {
    url: target.url,
    connections: job.connections,
    pipelining: 1,
    duration: job.durationS,
    sampleInt: 100,
    timeout: 10,
    headers: target.headers,
    requests: target.requests,
  };
  const rate = job.rate;
  if (rate !== undefined && rate > 0) {
    opts.overallRate = Math.round(rate);
    const intervalMs = (1000 * job.connections) / rate;
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
  const cpu0 = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, r) => {
      if (err) return reject(err);
      const cpu = process.cpuUsage(cpu0);
      const requests = r.requests.total;
      resolve({
        rps: r.duration > 0 ? requests / r.duration : 0,
        requests,
        durationS: r.duration,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        generatorCpuS: (cpu.user + cpu.system) / 1e6,
        latenciesMs: lat ? lat.slice(0, n) : undefined,
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

/** One job at a time, as the harness sends them; the answer carries the job's id. */
function serve(): void {
  process.on("message", (msg: { id: number; job: LoadJob }) => {
    runAutocannon(msg.job).then(
      (result) => process.send!({ id: msg.id, result }),
      (err: Error) => process.send!({ id: msg.id, error: err.stack ?? err.message }),
    );
  });
  // The harness went away (or is done): nothing left to do.
  process.on("disconnect", () => process.exit(0));
  process.send!({ ready: true });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) serve();
