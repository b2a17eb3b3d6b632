/**
 * The data plane's single view of endpoint health and load, keyed by endpoint key (`address:port`)
 * so it survives config reloads. Core's balancers read it through `Availability`; the forwarding
 * path feeds it through `UpstreamHealth` (begin / end / report).
 *
 * An endpoint is available unless one of these holds it down:
 * - `probe`: its WorkloadGroup probe reports unhealthy (ActiveProber → `probeResult`);
 * - `outlier`: ejected by outlier detection, until the ejection time passes or, for an actively
 *   probed endpoint, until a probe passes while the probe holds it healthy (Envoy's
 *   `successful_active_health_check_uneject_host`, default true);
 * - `connect-failure`: a connection to it was just refused, so `noavailabled` fallback follows at
 *   once when every endpoint of a subset is known down (SPEC §5). It ends when a probe succeeds if
 *   the endpoint is actively probed, else after `connectFailureBackoffMs` (default 1 s); the next
 *   refused connection marks it again. A successful response does not end it: a server that is
 *   shutting down finishes in-flight requests while refusing new connections.
 *
 * Resets and timeouts only feed outlier detection; they do not mark an endpoint down by themselves.
 * Expired ejections and back-offs end lazily, on the next read (isAvailable / describe / snapshot).
 * The fast path: while nothing is down, `isAvailable` is one `Set.size` check.
 */
import { channel } from "node:diagnostics_channel";
import type { Endpoint, OutlierDetection } from "@lanecar/core";
import type { UpstreamHealth } from "../upstream/upstream-health.js";
import { OutlierDetector, type UpstreamOutcome } from "./outlier-detector.js";

export type DownReason = "probe" | "outlier" | "connect-failure";

/** A reason starting (`down`) or ending (`up`) for one endpoint; for metrics and logs. */
export interface HealthEvent {
  key: string;
  change: "down" | "up";
  reason: DownReason;
  /** Whether the endpoint is available after this change (another reason may still hold it). */
  available: boolean;
  /** Outlier ejections and connect-failure back-offs: when they end, epoch ms. */
  until?: number;
}

export type HealthListener = (e: HealthEvent) => void;

/** One endpoint as the admin API (`/clusters`) shows it. */
export interface EndpointHealthView {
  healthy: boolean;
  /** The first reason holding it down, in the order probe, outlier, connect-failure. */
  reason: DownReason | null;
  /** End of the current outlier ejection, epoch ms. */
  ejectedUntil: number | null;
  /** Consecutive 5xx / local-origin failures since the last success or ejection. */
  consecutiveFailures: number;
  /** In-flight requests. */
  active: number;
  /** Active probe status: null when not probed, "unknown" before its first result. */
  probe: "healthy" | "unhealthy" | "unknown" | null;
}

export interface HealthStateOptions {
  /** How long a refused connection keeps an endpoint without active probe down. Default 1000. */
  connectFailureBackoffMs?: number;
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
}

export const HEALTH_DEFAULTS = { connectFailureBackoffMs: 1000 } as const;

/** Every HealthEvent is also published here (node:diagnostics_channel), for tools that attach late. */
export const HEALTH_CHANNEL = "lanecar:health";
const healthChannel = channel(HEALTH_CHANNEL);

/** What ActiveProber tells the state. */
export interface ProbeSink {
  /** `key` starts (true) or stops (false) being actively probed. */
  setProbing(key: string, probing: boolean): void;
  /** One probe finished: `ok` is this probe's result, `healthy` the status after thresholds. */
  probeResult(key: string, ok: boolean, healthy: boolean): void;
}

interface Rec {
  probing: boolean;
  /** undefined: probed but no result yet (counts as available). */
  probeHealthy: boolean | undefined;
  /** Outlier ejection deadline (clock ms), 0 = not ejected. */
  ejectedUntil: number;
  /** Connect-failure deadline (clock ms), 0 = none, Infinity = until a probe succeeds. */
  connectDownUntil: number;
}

const UNTIL_PROBE = Number.POSITIVE_INFINITY;

export class HealthState implements UpstreamHealth, ProbeSink {
  private readonly recs = new Map<string, Rec>();
  private readonly load = new Map<string, number>();
  /** Keys some reason may hold down; empty ⇒ everything is available. */
  private readonly down = new Set<string>();
  private readonly listeners: HealthListener[] = [];
  private readonly backoffMs: number;
  private readonly now: () => number;
  private readonly epochOrigin: number;
  readonly outlier: OutlierDetector;
  /** Outlier ejections enforced so far (lanecar_ejections_total). */
  ejections = 0;

  constructor(opts: HealthStateOptions = {}) {
    this.backoffMs = opts.connectFailureBackoffMs ?? HEALTH_DEFAULTS.connectFailureBackoffMs;
    this.now = opts.now ?? (() => performance.now());
    this.epochOrigin = Date.now() - this.now();
    this.outlier = new OutlierDetector(
      {
        isEjected: (k) => this.isEjected(k),
        eject: (k, ms) => this.eject(k, ms),
        isHealthy: (k) => !this.down.has(k) || this.settle(k),
      },
      { now: this.now },
    );
  }

  // ---- Availability ---------------------------------------------------------------

  isAvailable(ep: Endpoint): boolean {
    // A platform-reported not-ready endpoint (Kubernetes `ready: false`) is never picked.
    if (ep.ready === false) return false;
    if (this.down.size === 0 || !this.down.has(ep.key)) return true;
    return this.settle(ep.key);
  }

  activeRequests(ep: Endpoint): number {
    return this.load.get(ep.key) ?? 0;
  }

  // ---- UpstreamHealth -------------------------------------------------------------

  begin(ep: Endpoint): void {
    this.load.set(ep.key, (this.load.get(ep.key) ?? 0) + 1);
  }

  end(ep: Endpoint): void {
    const n = this.load.get(ep.key);
    if (n !== undefined && n > 0) this.load.set(ep.key, n - 1);
  }

  /**
   * The outcome of one attempt. A refused connection marks the endpoint down at once, whatever
   * the policy; every outcome feeds outlier detection under `outlier` (the cluster's policy).
   * `pool`: the cluster's endpoints, for maxEjectionPercent (omitted ⇒ a pool of one).
   */
  report(
    ep: Endpoint,
    outlier: OutlierDetection | undefined,
    result: UpstreamOutcome,
    pool?: readonly { readonly key: string }[],
  ): void {
    if (result === "connect-failure") this.connectFailed(ep.key);
    this.outlier.reportResult(ep, outlier, result, pool);
  }

  // ---- ProbeSink ------------------------------------------------------------------

  setProbing(key: string, probing: boolean): void {
    const r = probing ? this.rec(key) : this.recs.get(key);
    if (!r || r.probing === probing) return;
    const wasDown = r.probeHealthy === false;
    r.probing = probing;
    r.probeHealthy = undefined;
    if (probing) return;
    // Without a probe to wait for, a pending connect-failure mark falls back to the back-off.
    if (r.connectDownUntil === UNTIL_PROBE) r.connectDownUntil = this.now() + this.backoffMs;
    if (wasDown) this.emit(key, "up", "probe", r);
    if (this.down.has(key)) this.settle(key);
  }

  probeResult(key: string, ok: boolean, healthy: boolean): void {
    const r = this.recs.get(key);
    if (!r?.probing) return;
    const wasDown = r.probeHealthy === false;
    r.probeHealthy = healthy;
    if (ok && r.connectDownUntil !== 0) {
      r.connectDownUntil = 0;
      this.emit(key, "up", "connect-failure", r);
    }
    if (ok && healthy && r.ejectedUntil !== 0) {
      // Envoy's successful_active_health_check_uneject_host (default true, which Istio keeps): a
      // passing probe of an endpoint its probe holds healthy ends an outlier ejection at once,
      // counters cleared, so a restarted instance gets its traffic back within a probe period.
      r.ejectedUntil = 0;
      this.outlier.unejected(key);
      this.emit(key, "up", "outlier", r);
    }
    if (!healthy && !wasDown) {
      this.down.add(key);
      this.emit(key, "down", "probe", r);
    } else if (healthy && wasDown) {
      this.emit(key, "up", "probe", r);
    }
    if (this.down.has(key)) this.settle(key);
  }

  // ---- events, admin view, config -------------------------------------------------

  /** Subscribes to health changes; returns the unsubscribe function. Listeners must be cheap. */
  onChange(listener: HealthListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** One endpoint's health for the admin API; endpoints never seen are healthy and idle. */
  describe(key: string): EndpointHealthView {
    if (this.down.has(key)) this.settle(key);
    const r = this.recs.get(key);
    const ejected = r !== undefined && r.ejectedUntil !== 0;
    return {
      healthy: !this.down.has(key),
      reason: !r
        ? null
        : r.probeHealthy === false
          ? "probe"
          : ejected
            ? "outlier"
            : r.connectDownUntil !== 0
              ? "connect-failure"
              : null,
      ejectedUntil: ejected ? this.toEpoch(r.ejectedUntil) : null,
      consecutiveFailures: this.outlier.consecutiveFailures(key),
      active: this.load.get(key) ?? 0,
      probe: !r?.probing
        ? null
        : r.probeHealthy === undefined
          ? "unknown"
          : r.probeHealthy
            ? "healthy"
            : "unhealthy",
    };
  }

  /** Every endpoint the state knows something about, by key. */
  snapshot(): Record<string, EndpointHealthView> {
    const keys = new Set<string>([...this.recs.keys(), ...this.load.keys(), ...this.outlier.keys()]);
    const out: Record<string, EndpointHealthView> = {};
    for (const k of [...keys].sort()) out[k] = this.describe(k);
    return out;
  }

  /** Endpoints currently unavailable (after ending expired ejections and back-offs). */
  downKeys(): string[] {
    for (const k of [...this.down]) this.settle(k);
    return [...this.down];
  }

  /** After a config change: forgets endpoints no longer configured (idle ones), keeps the rest. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of [...this.recs.keys()]) {
      if (!keys.has(k)) {
        this.recs.delete(k);
        this.down.delete(k);
      }
    }
    for (const k of [...this.outlier.keys()]) if (!keys.has(k)) this.outlier.forget(k);
    for (const [k, n] of [...this.load]) if (!keys.has(k) && n === 0) this.load.delete(k);
  }

  // ---- internals -------------------------------------------------------------------

  private rec(key: string): Rec {
    let r = this.recs.get(key);
    if (!r) {
      r = { probing: false, probeHealthy: undefined, ejectedUntil: 0, connectDownUntil: 0 };
      this.recs.set(key, r);
    }
    return r;
  }

  private isEjected(key: string): boolean {
    const r = this.recs.get(key);
    if (!r || r.ejectedUntil === 0) return false;
    if (r.ejectedUntil > this.now()) return true;
    this.settle(key);
    return false;
  }

  private eject(key: string, durationMs: number): void {
    const r = this.rec(key);
    r.ejectedUntil = this.now() + durationMs;
    this.ejections++;
    this.down.add(key);
    this.emit(key, "down", "outlier", r);
  }

  private connectFailed(key: string): void {
    const r = this.rec(key);
    const first = r.connectDownUntil === 0;
    r.connectDownUntil = r.probing ? UNTIL_PROBE : this.now() + this.backoffMs;
    if (!first) return;
    this.down.add(key);
    this.emit(key, "down", "connect-failure", r);
  }

  /** Ends expired reasons for a key in `down`; returns whether it is available now. */
  private settle(key: string): boolean {
    const r = this.recs.get(key);
    if (!r) {
      this.down.delete(key);
      return true;
    }
    const now = this.now();
    if (r.ejectedUntil !== 0 && r.ejectedUntil <= now) {
      r.ejectedUntil = 0;
      this.outlier.unejected(key);
      this.emit(key, "up", "outlier", r);
    }
    if (r.connectDownUntil !== 0 && r.connectDownUntil <= now) {
      r.connectDownUntil = 0;
      this.emit(key, "up", "connect-failure", r);
    }
    if (holdsDown(r)) return false;
    this.down.delete(key);
    return true;
  }

  private emit(key: string, change: "down" | "up", reason: DownReason, r: Rec): void {
    if (this.listeners.length === 0 && !healthChannel.hasSubscribers) return;
    const e: HealthEvent = { key, change, reason, available: !holdsDown(r) };
    if (change === "down" && reason === "outlier") e.until = this.toEpoch(r.ejectedUntil);
    if (change === "down" && reason === "connect-failure" && r.connectDownUntil !== UNTIL_PROBE) {
      e.until = this.toEpoch(r.connectDownUntil);
    }
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A failing listener must not break the request path.
      }
    }
    if (healthChannel.hasSubscribers) healthChannel.publish(e);
  }

  /** Clock ms → epoch ms, through one fixed origin so a deadline always reads the same. */
  private toEpoch(clockMs: number): number {
    return Math.round(this.epochOrigin + clockMs);
  }
}

function holdsDown(r: Rec): boolean {
  return r.probeHealthy === false || r.ejectedUntil !== 0 || r.connectDownUntil !== 0;
}
