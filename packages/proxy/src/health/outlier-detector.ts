/**
 * Passive health checking: Envoy's consecutive-error outlier detection as Istio configures it from
 * a DestinationRule's `outlierDetection` (`splitExternalLocalOriginErrors: false`, Istio's default).
 *
 * - Every 5xx counts toward `consecutive5xxErrors`; 502/503/504 also count toward
 *   `consecutiveGatewayErrors`. A local-origin failure counts as the status Envoy maps it to:
 *   connect failure and reset → 503, timeout → 504 (so they count toward both).
 * - Any response below 500 resets both counters; a 5xx that is not a gateway error resets the
 *   gateway counter. A threshold of 0 disables that detector (Istio: `consecutiveGatewayErrors`
 *   defaults to 0).
 * - On reaching a threshold the counters reset and the endpoint is ejected if the pool (the
 *   cluster: one subset, as Istio makes one Envoy cluster per subset) allows it:
 *   - `maxEjectionPercent` (Istio default 10, Envoy's): Envoy ≥ 1.31 ejects only when
 *     `100 × (ejected + 1) / poolSize ≤ maxEjectionPercent`; Istio never sets
 *     `always_eject_one_host`. So a one-instance lane is ejected only with `maxEjectionPercent:
 *     100`, and with the default a pool needs ≥ 10 endpoints before one can be ejected.
 *   - `minHealthPercent` (Istio default 0 = off): Istio sets it as Envoy's panic threshold, below
 *     which Envoy balances over every host, ejected ones included — an ejection that leaves fewer
 *     than `minHealthPercent` % of the pool healthy would not take effect, so it is not made.
 *     (Hosts down for another reason — probe, refused connection — count as unhealthy.)
 *   (A refused connection still takes an endpoint out at once: that is HealthState's
 *   connect-failure mark, not an ejection.)
 * - An ejection lasts `baseEjectionTime × n`, n = 1 + (earlier ejections, decayed by one for each
 *   `interval` spent back in service), capped at max(300 s, baseEjectionTime) as Envoy's
 *   `max_ejection_time` default. It ends at that deadline (lazily, on read) or earlier when the
 *   endpoint's active probe passes (HealthState; Envoy's `successful_active_health_check_uneject_host`).
 *
 * Counters are kept per endpoint key (not per cluster), so an endpoint shared by several subsets
 * has one history, and they survive config reloads.
 */
import type { OutlierDetection } from "@lanecar/core";

/** What one attempt to an endpoint ended with: a status code or a local-origin failure. */
export type UpstreamOutcome = number | "connect-failure" | "reset" | "timeout";

/** Where ejections land: the availability view. */
export interface EjectionTarget {
  /** Is `key` ejected right now (lazily ending an expired ejection)? */
  isEjected(key: string): boolean;
  /** Takes `key` out of service for `durationMs`. */
  eject(key: string, durationMs: number): void;
  /** Is `key` available for load balancing (not down for any reason)? */
  isHealthy(key: string): boolean;
}

/** Envoy's `max_ejection_time` default (Istio does not expose it). */
export const MAX_EJECTION_TIME_MS = 300_000;

interface OutlierRecord {
  consecutive5xx: number;
  consecutiveGateway: number;
  /** Envoy's ejectTimeBackoff: the multiplier of the next ejection, before decay. */
  backoff: number;
  /** When the last ejection ended (clock of the detector), for backoff decay. */
  lastUnejectedAt: number;
}

export interface OutlierDetectorOptions {
  /** Monotonic clock in ms. Default `performance.now`. */
  now?: () => number;
}

/** Maps a result to the HTTP status Envoy's outlier detector sees for it. */
export function outcomeStatus(result: UpstreamOutcome): number {
  if (typeof result === "number") return result;
  return result === "timeout" ? 504 : 503;
}

export class OutlierDetector {
  private readonly records = new Map<string, OutlierRecord>();
  private readonly now: () => number;
  /** Ejections a threshold asked for but maxEjectionPercent refused (Envoy's ejections_overflow). */
  overflows = 0;

  constructor(
    private readonly target: EjectionTarget,
    opts: OutlierDetectorOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * Records one attempt's outcome. `od` undefined: counted (for the admin view) but never ejects.
   * `pool`: the endpoints of the cluster the request was balanced over, for maxEjectionPercent;
   * when omitted the endpoint is taken as a pool of one. Returns true when this call ejected `ep`.
   */
  reportResult(
    ep: { readonly key: string },
    od: OutlierDetection | undefined,
    result: UpstreamOutcome,
    pool?: readonly { readonly key: string }[],
  ): boolean {
    const status = outcomeStatus(result);
    if (status < 500) {
      const r = this.records.get(ep.key);
      if (r) {
        r.consecutive5xx = 0;
        r.consecutiveGateway = 0;
      }
      return false;
    }
    let r = this.records.get(ep.key);
    if (!r) {
      r = { consecutive5xx: 0, consecutiveGateway: 0, backoff: 0, lastUnejectedAt: 0 };
      this.records.set(ep.key, r);
    }
    const gateway = status === 502 || status === 503 || status === 504;
    r.consecutiveGateway = gateway ? r.consecutiveGateway + 1 : 0;
    r.consecutive5xx++;
    if (!od) return false;
    const by5xx = od.consecutive5xxErrors > 0 && r.consecutive5xx >= od.consecutive5xxErrors;
    const byGateway = od.consecutiveGatewayErrors > 0 && r.consecutiveGateway >= od.consecutiveGatewayErrors;
    if (!by5xx && !byGateway) return false;
    // Late results of requests sent before the ejection do not eject again (Envoy ignores them too).
    if (this.target.isEjected(ep.key)) return false;
    // Envoy resets the counter that fired whether or not the ejection is allowed.
    if (by5xx) r.consecutive5xx = 0;
    if (byGateway) r.consecutiveGateway = 0;
    if (!this.ejectionAllowed(ep.key, od, pool)) {
      this.overflows++;
      return false;
    }
    const now = this.now();
    if (r.backoff > 0 && od.intervalMs > 0) {
      const healthyIntervals = Math.floor((now - r.lastUnejectedAt) / od.intervalMs);
      r.backoff = Math.max(0, r.backoff - healthyIntervals);
    }
    const maxTime = Math.max(MAX_EJECTION_TIME_MS, od.baseEjectionTimeMs);
    if (r.backoff * od.baseEjectionTimeMs < maxTime + od.baseEjectionTimeMs) r.backoff++;
    this.target.eject(ep.key, Math.min(od.baseEjectionTimeMs * r.backoff, maxTime));
    return true;
  }

  /** The target ended `key`'s ejection: counters restart, as Envoy's unejectHost does. */
  unejected(key: string): void {
    const r = this.records.get(key);
    if (!r) return;
    r.consecutive5xx = 0;
    r.consecutiveGateway = 0;
    r.lastUnejectedAt = this.now();
  }

  /** Consecutive 5xx (including local-origin failures) since the last success or ejection. */
  consecutiveFailures(key: string): number {
    return this.records.get(key)?.consecutive5xx ?? 0;
  }

  /** The multiplier the last ejection used (0 = never ejected). */
  ejectionMultiplier(key: string): number {
    return this.records.get(key)?.backoff ?? 0;
  }

  forget(key: string): void {
    this.records.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.records.keys();
  }

  /** maxEjectionPercent and minHealthPercent over the pool, counting `key` as ejected. */
  private ejectionAllowed(
    key: string,
    od: OutlierDetection,
    pool: readonly { readonly key: string }[] | undefined,
  ): boolean {
    let ejected = 0;
    let healthy = 0;
    let size = pool?.length ?? 0;
    let member = false;
    if (pool) {
      for (const p of pool) {
        if (p.key === key) member = true;
        else {
          if (this.target.isEjected(p.key)) ejected++;
          if (this.target.isHealthy(p.key)) healthy++;
        }
      }
    }
    if (!member) size++;
    if ((100 * (ejected + 1)) / size > od.maxEjectionPercent) return false;
    return od.minHealthPercent <= 0 || (100 * healthy) / size >= od.minHealthPercent;
  }
}
