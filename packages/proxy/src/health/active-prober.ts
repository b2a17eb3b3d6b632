/**
 * Active health checks: runs each endpoint's WorkloadGroup probe and tells a ProbeSink (the
 * HealthState) the result.
 *
 * - One probe at a time per endpoint, every `periodMs` (start to start; a slow probe delays the
 *   next one instead of overlapping it). The first runs `initialDelayMs` after the endpoint
 *   becomes known to the prober.
 * - Before its first result an endpoint counts as healthy, so a fresh sidecar does not answer 503
 *   while it learns. The first result decides at once (a first failure marks the endpoint
 *   unhealthy, like Envoy's initial health check); after that it takes `failureThreshold`
 *   consecutive failures to go unhealthy and `successThreshold` consecutive successes to come back.
 * - `start()` resolves once every endpoint without initial delay has its first result (each
 *   bounded by its `timeoutMs`), so a caller can wait for a real view before reporting ready.
 * - `update(endpoints)` on config change: new keys start, removed keys stop (their probe status is
 *   dropped), unchanged keys keep their status and counters (a changed probe spec is rescheduled
 *   with the new settings, status kept).
 * - Timers are unref'd: probing never keeps the process alive. `stop()` clears every timer,
 *   aborts probes in flight and forgets the endpoints; late results are ignored.
 */
import type { Endpoint, Probe } from "@lanecar/core";
import type { ProbeSink } from "./health-state.js";
import { type ProbeOutcome, sendProbe } from "./probe-request.js";

/** One probe result, for logs and tests. */
export interface ProbeEvent {
  key: string;
  ok: boolean;
  detail: number | string;
  healthy: boolean;
}

export type ProbeFn = (ep: Endpoint, probe: Probe, done: (o: ProbeOutcome) => void) => () => void;

export interface ActiveProberOptions {
  /** Called after every probe. */
  onProbe?: (e: ProbeEvent) => void;
  /** How a probe is sent; default an HTTP(S) GET (probe-request.ts). */
  send?: ProbeFn;
}

interface Target {
  ep: Endpoint;
  probe: Probe;
  spec: string;
  timer: NodeJS.Timeout | undefined;
  cancel: (() => void) | undefined;
  startedAt: number;
  successes: number;
  failures: number;
  healthy: boolean | undefined;
  /** Resolves at the first result (or when the target stops). */
  first: (() => void) | undefined;
  firstDone: Promise<void>;
}

export class ActiveProber {
  private readonly targets = new Map<string, Target>();
  private running = false;
  private readonly send: ProbeFn;

  constructor(
    private readonly sink: ProbeSink,
    private readonly opts: ActiveProberOptions = {},
  ) {
    this.send = opts.send ?? sendProbe;
  }

  /** Sets the endpoints to probe (those without `probe` are ignored). */
  update(endpoints: Iterable<Endpoint>): void {
    const next = new Map<string, Endpoint & { probe: Probe }>();
    for (const ep of endpoints)
      if (ep.probe && !next.has(ep.key)) next.set(ep.key, ep as Endpoint & { probe: Probe });
    for (const [key, t] of this.targets) {
      if (!next.has(key)) this.remove(key, t);
    }
    for (const [key, ep] of next) {
      const spec = JSON.stringify(ep.probe);
      const t = this.targets.get(key);
      if (!t) {
        this.add(ep, spec);
        continue;
      }
      t.ep = ep;
      if (t.spec === spec) continue;
      t.probe = ep.probe;
      t.spec = spec;
      // Reschedule with the new period unless a probe is in flight (its completion schedules).
      if (this.running && t.timer) {
        clearTimeout(t.timer);
        t.timer = undefined;
        this.schedule(t, t.healthy === undefined ? t.probe.initialDelayMs : t.probe.periodMs);
      }
    }
  }

  /** Starts probing; resolves when endpoints without initial delay have their first result. */
  start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      for (const t of this.targets.values()) this.schedule(t, t.probe.initialDelayMs);
    }
    const waits: Promise<void>[] = [];
    for (const t of this.targets.values()) if (t.probe.initialDelayMs === 0) waits.push(t.firstDone);
    return Promise.all(waits).then(() => undefined);
  }

  /**
   * Stops every timer and probe in flight and forgets the endpoints (the sink drops their probe
   * status, so nothing stays down on a probe that no longer runs). `update` + `start` to resume.
   */
  stop(): void {
    this.running = false;
    for (const [key, t] of [...this.targets]) this.remove(key, t);
  }

  /** Status of one endpoint's probe: undefined when not probed or before its first result. */
  healthy(key: string): boolean | undefined {
    return this.targets.get(key)?.healthy;
  }

  /** Keys being probed. */
  keys(): string[] {
    return [...this.targets.keys()];
  }

  /** Scheduled timers (0 after stop): for tests and the admin view. */
  get pendingTimers(): number {
    let n = 0;
    for (const t of this.targets.values()) if (t.timer) n++;
    return n;
  }

  /** Probes in flight. */
  get inFlight(): number {
    let n = 0;
    for (const t of this.targets.values()) if (t.cancel) n++;
    return n;
  }

  // ---- internals -------------------------------------------------------------------

  private add(ep: Endpoint & { probe: Probe }, spec: string): void {
    let first: (() => void) | undefined;
    const firstDone = new Promise<void>((resolve) => {
      first = resolve;
    });
    const t: Target = {
      ep,
      probe: ep.probe,
      spec,
      timer: undefined,
      cancel: undefined,
      startedAt: 0,
      successes: 0,
      failures: 0,
      healthy: undefined,
      first,
      firstDone,
    };
    this.targets.set(ep.key, t);
    this.sink.setProbing(ep.key, true);
    if (this.running) this.schedule(t, ep.probe.initialDelayMs);
  }

  private remove(key: string, t: Target): void {
    this.halt(t);
    this.targets.delete(key);
    this.sink.setProbing(key, false);
  }

  private halt(t: Target): void {
    if (t.timer) clearTimeout(t.timer);
    t.timer = undefined;
    t.cancel?.();
    t.cancel = undefined;
    t.first?.();
    t.first = undefined;
  }

  private schedule(t: Target, delayMs: number): void {
    if (delayMs <= 0) {
      this.run(t);
      return;
    }
    t.timer = setTimeout(() => {
      t.timer = undefined;
      this.run(t);
    }, delayMs);
    t.timer.unref();
  }

  private run(t: Target): void {
    if (!this.running || this.targets.get(t.ep.key) !== t || t.cancel) return;
    t.startedAt = performance.now();
    let sync = true;
    let syncOutcome: ProbeOutcome | undefined;
    const cancel = this.send(t.ep, t.probe, (o) => {
      if (sync) syncOutcome = o;
      else this.onResult(t, cancel, o);
    });
    sync = false;
    t.cancel = cancel;
    if (syncOutcome) this.onResult(t, cancel, syncOutcome);
  }

  private onResult(t: Target, cancel: () => void, o: ProbeOutcome): void {
    // A result from a probe stop() or remove() already abandoned.
    if (t.cancel !== cancel || !this.running || this.targets.get(t.ep.key) !== t) return;
    t.cancel = undefined;
    const p = t.probe;
    if (o.ok) {
      t.successes++;
      t.failures = 0;
    } else {
      t.failures++;
      t.successes = 0;
    }
    if (t.healthy === undefined) t.healthy = o.ok;
    else if (t.healthy && t.failures >= p.failureThreshold) t.healthy = false;
    else if (!t.healthy && t.successes >= p.successThreshold) t.healthy = true;
    this.sink.probeResult(t.ep.key, o.ok, t.healthy);
    if (this.opts.onProbe) {
      try {
        this.opts.onProbe({ key: t.ep.key, ok: o.ok, detail: o.detail, healthy: t.healthy });
      } catch {
        // Observers do not stop probing.
      }
    }
    t.first?.();
    t.first = undefined;
    const elapsed = performance.now() - t.startedAt;
    this.schedule(t, Math.max(1, p.periodMs - elapsed));
  }
}
