/**
 * Load balancers: pick one available endpoint of a cluster. One interface, four policies
 * (Istio's ROUND_ROBIN default, LEAST_REQUEST, RANDOM, consistentHash). A balancer never returns
 * an unavailable endpoint; it returns undefined when none is available.
 */
import type { LoadBalancerSettings } from "../resources/types.js";
import type { Availability, Endpoint } from "./endpoint.js";

export interface Balancer {
  readonly policy: string;
  /** `hashKey` is used by consistent hashing only. `rand` returns [0, 1). */
  pick(
    endpoints: readonly Endpoint[],
    avail: Availability,
    hashKey: string | undefined,
    rand: () => number,
  ): Endpoint | undefined;
}

/** Expands endpoint weights into a schedule (gcd-reduced, capped) for weighted round robin. */
function schedule(endpoints: readonly Endpoint[]): readonly Endpoint[] {
  if (endpoints.every((e) => e.weight === endpoints[0]!.weight)) return endpoints;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = endpoints.reduce((acc, e) => gcd(acc, e.weight), 0) || 1;
  const total = endpoints.reduce((s, e) => s + e.weight / g, 0);
  if (total > 4096) return endpoints;
  // Interleave (smooth weighted round robin) so heavy endpoints are not hit in bursts.
  const current = endpoints.map(() => 0);
  const out: Endpoint[] = [];
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < endpoints.length; i++) {
      current[i]! += endpoints[i]!.weight / g;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    out.push(endpoints[best]!);
  }
  return out;
}

export class RoundRobinBalancer implements Balancer {
  readonly policy = "ROUND_ROBIN";
  private next = 0;
  private cachedFor: readonly Endpoint[] | undefined;
  private order: readonly Endpoint[] = [];

  pick(endpoints: readonly Endpoint[], avail: Availability): Endpoint | undefined {
    if (this.cachedFor !== endpoints) {
      this.cachedFor = endpoints;
      this.order = schedule(endpoints);
    }
    const order = this.order;
    const n = order.length;
    for (let i = 0; i < n; i++) {
      const ep = order[(this.next + i) % n]!;
      if (avail.isAvailable(ep)) {
        this.next = (this.next + i + 1) % n;
        return ep;
      }
    }
    return undefined;
  }
}

export class RandomBalancer implements Balancer {
  readonly policy = "RANDOM";
  pick(
    endpoints: readonly Endpoint[],
    avail: Availability,
    _h: string | undefined,
    rand: () => number,
  ): Endpoint | undefined {
    let total = 0;
    for (const ep of endpoints) if (avail.isAvailable(ep)) total += ep.weight;
    if (total === 0) return undefined;
    let r = rand() * total;
    for (const ep of endpoints) {
      if (!avail.isAvailable(ep)) continue;
      r -= ep.weight;
      if (r < 0) return ep;
    }
    return undefined;
  }
}

/** Power of two choices on in-flight requests, as Envoy's LEAST_REQUEST does. */
export class LeastRequestBalancer implements Balancer {
  readonly policy = "LEAST_REQUEST";
  pick(
    endpoints: readonly Endpoint[],
    avail: Availability,
    _h: string | undefined,
    rand: () => number,
  ): Endpoint | undefined {
    const up: Endpoint[] = [];
    for (const ep of endpoints) if (avail.isAvailable(ep)) up.push(ep);
    if (up.length <= 1) return up[0];
    const a = up[Math.floor(rand() * up.length)]!;
    let b = up[Math.floor(rand() * up.length)]!;
    if (b === a) b = up[(up.indexOf(a) + 1) % up.length]!;
    return avail.activeRequests(b) < avail.activeRequests(a) ? b : a;
  }
}

/** FNV-1a over `s`, continuing from state `h` (so key and endpoint hash without concatenating). */
function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * murmur3's 32-bit finalizer. FNV-1a barely mixes its last bytes, and endpoint keys often differ
 * only there (`10.0.0.1:19001` / `:19002`), so unmixed scores sent most keys to one endpoint.
 */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const SEPARATOR = "|".charCodeAt(0);

/**
 * Consistent hashing by rendezvous (highest random weight): the same key maps to the same
 * endpoint while it is available, and only keys of a removed endpoint move.
 */
export class ConsistentHashBalancer implements Balancer {
  readonly policy = "CONSISTENT_HASH";
  private readonly fallback = new RoundRobinBalancer();
  pick(
    endpoints: readonly Endpoint[],
    avail: Availability,
    hashKey: string | undefined,
    rand: () => number,
  ): Endpoint | undefined {
    if (hashKey === undefined) return this.fallback.pick(endpoints, avail);
    let best: Endpoint | undefined;
    let bestScore = -1;
    const keyState = Math.imul(fnv1a(hashKey) ^ SEPARATOR, 0x01000193);
    for (const ep of endpoints) {
      if (!avail.isAvailable(ep)) continue;
      const score = fmix32(fnv1a(ep.key, keyState));
      if (score > bestScore) {
        bestScore = score;
        best = ep;
      }
    }
    void rand;
    return best;
  }
}

export function makeBalancer(lb: LoadBalancerSettings | undefined): Balancer {
  if (lb?.consistentHash) return new ConsistentHashBalancer();
  switch (lb?.simple) {
    case "RANDOM":
      return new RandomBalancer();
    case "LEAST_REQUEST":
      return new LeastRequestBalancer();
    default:
      return new RoundRobinBalancer();
  }
}
