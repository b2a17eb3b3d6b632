import { describe, expect, it } from "vitest";
import {
  ALL_AVAILABLE,
  type Availability,
  availabilityExcept,
  ConsistentHashBalancer,
  type Endpoint,
  LeastRequestBalancer,
  makeBalancer,
  RandomBalancer,
  RoundRobinBalancer,
} from "../../src/index.js";
import { seeded, sequence } from "../route/support.js";

function ep(port: number, weight = 1, address = "10.0.0.1"): Endpoint {
  return { key: `${address}:${port}`, address, port, labels: {}, weight, probe: undefined, origin: "test" };
}
const A = ep(1);
const B = ep(2);
const C = ep(3);
const ABC = Object.freeze([A, B, C]);
const ports = (eps: (Endpoint | undefined)[]) => eps.map((e) => e?.port);
const picks = (n: number, f: () => Endpoint | undefined) => Array.from({ length: n }, f);

function loaded(active: Record<string, number>, down: string[] = []): Availability {
  return { isAvailable: (e) => !down.includes(e.key), activeRequests: (e) => active[e.key] ?? 0 };
}

describe("makeBalancer", () => {
  it("ROUND_ROBIN by default; LEAST_REQUEST, RANDOM and consistentHash on request", () => {
    expect(makeBalancer(undefined).policy).toBe("ROUND_ROBIN");
    expect(makeBalancer({ simple: "ROUND_ROBIN" }).policy).toBe("ROUND_ROBIN");
    expect(makeBalancer({ simple: "PASSTHROUGH" }).policy).toBe("ROUND_ROBIN");
    expect(makeBalancer({ simple: "LEAST_REQUEST" }).policy).toBe("LEAST_REQUEST");
    expect(makeBalancer({ simple: "RANDOM" }).policy).toBe("RANDOM");
    expect(makeBalancer({ consistentHash: { httpHeaderName: "x-user" } }).policy).toBe("CONSISTENT_HASH");
  });
});

describe("RoundRobinBalancer", () => {
  it("cycles in order", () => {
    const rr = new RoundRobinBalancer();
    expect(ports(picks(7, () => rr.pick(ABC, ALL_AVAILABLE)))).toEqual([1, 2, 3, 1, 2, 3, 1]);
  });

  it("skips unavailable endpoints and keeps the cycle", () => {
    const rr = new RoundRobinBalancer();
    const noB = availabilityExcept([B.key]);
    expect(ports(picks(5, () => rr.pick(ABC, noB)))).toEqual([1, 3, 1, 3, 1]);
    // Back to all available: the cycle goes on from where it was (after A).
    expect(ports([rr.pick(ABC, ALL_AVAILABLE), rr.pick(ABC, ALL_AVAILABLE)])).toEqual([2, 3]);
  });

  it("returns undefined when nothing is available, or nothing is there", () => {
    const rr = new RoundRobinBalancer();
    expect(rr.pick(ABC, availabilityExcept([A.key, B.key, C.key]))).toBeUndefined();
    expect(rr.pick([], ALL_AVAILABLE)).toBeUndefined();
  });

  it("weighted by endpoint weight, interleaved rather than in bursts", () => {
    const rr = new RoundRobinBalancer();
    const heavy = ep(10, 3);
    const light = ep(11, 1);
    const order = ports(picks(8, () => rr.pick([heavy, light], ALL_AVAILABLE)));
    expect(order.filter((p) => p === 10)).toHaveLength(6);
    expect(order.filter((p) => p === 11)).toHaveLength(2);
    // Smooth weighted round robin: never more than 3 of the heavy one in a row per cycle of 4.
    expect(order.slice(0, 4).sort()).toEqual([10, 10, 10, 11]);
  });

  it("weights reduce by their gcd (2:4 behaves as 1:2)", () => {
    const rr = new RoundRobinBalancer();
    const order = ports(picks(6, () => rr.pick([ep(1, 2), ep(2, 4)], ALL_AVAILABLE)));
    expect(order.filter((p) => p === 1)).toHaveLength(2);
    expect(order.filter((p) => p === 2)).toHaveLength(4);
  });

  it("rebuilds its schedule when the endpoint set changes", () => {
    const rr = new RoundRobinBalancer();
    rr.pick(ABC, ALL_AVAILABLE);
    expect(ports(picks(4, () => rr.pick([A, B], ALL_AVAILABLE))).sort()).toEqual([1, 1, 2, 2]);
  });
});

describe("RandomBalancer", () => {
  it("draws by weight among available endpoints with the injected rand", () => {
    const r = new RandomBalancer();
    const eps = [ep(1, 1), ep(2, 3)];
    expect(r.pick(eps, ALL_AVAILABLE, undefined, () => 0)?.port).toBe(1);
    expect(r.pick(eps, ALL_AVAILABLE, undefined, () => 0.2499)?.port).toBe(1);
    expect(r.pick(eps, ALL_AVAILABLE, undefined, () => 0.25)?.port).toBe(2);
    expect(r.pick(eps, ALL_AVAILABLE, undefined, () => 0.9999)?.port).toBe(2);
    expect(r.pick(eps, availabilityExcept([eps[1]!.key]), undefined, () => 0.9999)?.port).toBe(1);
    expect(r.pick(eps, availabilityExcept(eps.map((e) => e.key)), undefined, () => 0)).toBeUndefined();
  });
});

describe("LeastRequestBalancer", () => {
  it("picks the less loaded of two choices", () => {
    const lr = new LeastRequestBalancer();
    const av = loaded({ [A.key]: 5, [B.key]: 1 });
    for (const x of [0, 0.3, 0.6, 0.99]) expect(lr.pick([A, B], av, undefined, () => x)?.port).toBe(2);
  });

  it("draws two distinct endpoints even when rand repeats", () => {
    const lr = new LeastRequestBalancer();
    // rand 0 twice would pick A twice; the second choice moves to B.
    expect(lr.pick(ABC, loaded({ [A.key]: 9, [B.key]: 0 }), undefined, sequence(0, 0))?.port).toBe(2);
  });

  it("with many endpoints, the most loaded one is never chosen", () => {
    const lr = new LeastRequestBalancer();
    const av = loaded({ [A.key]: 1, [B.key]: 2, [C.key]: 100 });
    const rand = seeded(3);
    for (let i = 0; i < 500; i++) expect(lr.pick(ABC, av, undefined, rand)?.port).not.toBe(3);
  });

  it("ignores unavailable endpoints; one or none left is trivial", () => {
    const lr = new LeastRequestBalancer();
    expect(lr.pick(ABC, loaded({}, [A.key, B.key]), undefined, Math.random)?.port).toBe(3);
    expect(lr.pick(ABC, loaded({}, [A.key, B.key, C.key]), undefined, Math.random)).toBeUndefined();
  });
});

describe("ConsistentHashBalancer", () => {
  const eps = Array.from({ length: 5 }, (_, i) => ep(100 + i));
  const keys = Array.from({ length: 2000 }, (_, i) => `user-${i}`);

  it("maps a key to the same endpoint every time", () => {
    const ch = new ConsistentHashBalancer();
    for (const k of keys.slice(0, 200)) {
      const first = ch.pick(eps, ALL_AVAILABLE, k, Math.random);
      for (let i = 0; i < 3; i++) expect(ch.pick(eps, ALL_AVAILABLE, k, Math.random)).toBe(first);
      // A new balancer (a new snapshot) agrees: the mapping depends on the key and endpoint identity only.
      expect(new ConsistentHashBalancer().pick([...eps].reverse(), ALL_AVAILABLE, k, Math.random)).toBe(
        first,
      );
    }
  });

  it("only keys of a removed endpoint move", () => {
    const ch = new ConsistentHashBalancer();
    const removed = eps[2]!;
    const down = availabilityExcept([removed.key]);
    let moved = 0;
    for (const k of keys) {
      const before = ch.pick(eps, ALL_AVAILABLE, k, Math.random)!;
      const after = ch.pick(eps, down, k, Math.random)!;
      if (before === removed) {
        moved++;
        expect(after).not.toBe(removed);
      } else expect(after).toBe(before);
    }
    expect(moved).toBeGreaterThan(0);
  });

  it("spreads keys over endpoints", () => {
    const ch = new ConsistentHashBalancer();
    const counts = new Map<number, number>();
    for (const k of keys) {
      const p = ch.pick(eps, ALL_AVAILABLE, k, Math.random)!.port;
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    expect(counts.size).toBe(5);
    // 400 expected each; a fair hash stays well within [200, 600].
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(200);
      expect(n).toBeLessThan(600);
    }
  });

  it("without a hash key, falls back to round robin", () => {
    const ch = new ConsistentHashBalancer();
    expect(ports(picks(4, () => ch.pick(ABC, ALL_AVAILABLE, undefined, Math.random)))).toEqual([1, 2, 3, 1]);
    expect(ch.pick(ABC, availabilityExcept([A.key, B.key, C.key]), "k", Math.random)).toBeUndefined();
  });
});
