import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  type HealthEvent,
  HealthState,
  MAX_EJECTION_TIME_MS,
  OutlierDetector,
} from "../../src/health/index.js";
import {
  closeForwarder,
  endpoint,
  forward,
  outlier,
  sleep,
  startServer,
  statusServer,
  type TestServer,
  waitFor,
} from "./helpers.js";

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(closeForwarder);

async function server(code: number) {
  const s = await statusServer(code);
  servers.push(s);
  return s;
}

describe("OutlierDetector through HealthState, against real upstreams", () => {
  it("ejects after consecutive5xxErrors 5xx and returns the endpoint after baseEjectionTime", async () => {
    const s = await server(500);
    const state = new HealthState();
    const events: HealthEvent[] = [];
    state.onChange((e) => events.push(e));
    const ep = endpoint(s.port);
    const od = outlier({ consecutive5xxErrors: 3, baseEjectionTimeMs: 150 });
    expect(await forward(state, ep, od, [ep])).toBe(500);
    expect(await forward(state, ep, od, [ep])).toBe(500);
    expect(state.isAvailable(ep)).toBe(true);
    expect(state.describe(ep.key).consecutiveFailures).toBe(2);
    const t0 = Date.now();
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(false);
    expect(state.ejections).toBe(1);
    const view = state.describe(ep.key);
    expect(view).toMatchObject({ healthy: false, reason: "outlier", consecutiveFailures: 0 });
    expect(view.ejectedUntil).toBeGreaterThanOrEqual(t0 + 100);
    expect(view.ejectedUntil).toBeLessThanOrEqual(Date.now() + 200);
    expect(events).toEqual([
      expect.objectContaining({ key: ep.key, change: "down", reason: "outlier", available: false }),
    ]);
    await waitFor(() => state.isAvailable(ep), 2000, "un-ejection");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(events.map((e) => `${e.change}:${e.reason}`)).toEqual(["down:outlier", "up:outlier"]);
    expect(state.describe(ep.key)).toMatchObject({ healthy: true, reason: null, ejectedUntil: null });
  });

  it("ejects for baseEjectionTime × number of ejections", async () => {
    const s = await server(503);
    const state = new HealthState();
    const ep = endpoint(s.port);
    const od = outlier({ consecutive5xxErrors: 2, baseEjectionTimeMs: 150 });
    await forward(state, ep, od, [ep]);
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(false);
    await waitFor(() => state.isAvailable(ep), 2000, "first un-ejection");
    await forward(state, ep, od, [ep]);
    await forward(state, ep, od, [ep]);
    const t0 = Date.now();
    expect(state.isAvailable(ep)).toBe(false);
    expect(state.outlier.ejectionMultiplier(ep.key)).toBe(2);
    await sleep(200);
    expect(state.isAvailable(ep)).toBe(false);
    await waitFor(() => state.isAvailable(ep), 2000, "second un-ejection");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(state.ejections).toBe(2);
  });

  it("a success resets the consecutive count", async () => {
    const s = await server(500);
    const state = new HealthState();
    const ep = endpoint(s.port);
    const od = outlier({ consecutive5xxErrors: 3 });
    await forward(state, ep, od, [ep]);
    await forward(state, ep, od, [ep]);
    s.status.code = 200;
    await forward(state, ep, od, [ep]);
    expect(state.describe(ep.key).consecutiveFailures).toBe(0);
    s.status.code = 500;
    await forward(state, ep, od, [ep]);
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(true);
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(false);
  });

  it("consecutiveGatewayErrors counts only 502/503/504; another 5xx breaks the run", async () => {
    const s = await server(500);
    const state = new HealthState();
    const ep = endpoint(s.port);
    const od = outlier({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 });
    for (let i = 0; i < 4; i++) await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(true);
    s.status.code = 502;
    await forward(state, ep, od, [ep]);
    s.status.code = 500;
    await forward(state, ep, od, [ep]);
    s.status.code = 503;
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(true);
    s.status.code = 504;
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(false);
    expect(state.ejections).toBe(1);
  });

  it("counts upstream resets and timeouts as gateway errors", async () => {
    const mode = { reset: true };
    const s = await startServer((_req, res) => {
      if (mode.reset) res.socket?.destroy();
      // else: never answer
    });
    servers.push(s);
    const state = new HealthState();
    const od = outlier({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 });
    const ep = endpoint(s.port);
    expect(await forward(state, ep, od, [ep])).toBe("reset");
    expect(state.isAvailable(ep)).toBe(true);
    expect(state.describe(ep.key).consecutiveFailures).toBe(1);
    mode.reset = false;
    expect(await forward(state, ep, od, [ep], 60)).toBe("timeout");
    expect(state.isAvailable(ep)).toBe(false);
    expect(state.describe(ep.key).reason).toBe("outlier");
  });

  it("respects maxEjectionPercent of the cluster's endpoints", async () => {
    const ss = await Promise.all([server(500), server(500), server(500), server(500)]);
    const pool = ss.map((s) => endpoint(s.port));
    const state = new HealthState();
    const od = outlier({ consecutive5xxErrors: 2, maxEjectionPercent: 50, baseEjectionTimeMs: 200 });
    for (const ep of pool) {
      await forward(state, ep, od, pool);
      await forward(state, ep, od, pool);
    }
    expect(pool.map((ep) => state.isAvailable(ep))).toEqual([false, false, true, true]);
    expect(state.ejections).toBe(2);
    expect(state.outlier.overflows).toBe(2);
    // Once the first two return, the others can be ejected in turn.
    await waitFor(() => state.isAvailable(pool[0]!) && state.isAvailable(pool[1]!), 2000, "un-ejection");
    const third = pool[2]!;
    await forward(state, third, od, pool);
    await forward(state, third, od, pool);
    expect(state.isAvailable(third)).toBe(false);
  });

  it("does not eject a single-endpoint lane unless maxEjectionPercent is 100 (Envoy ≥1.31)", async () => {
    const s = await server(500);
    const ep = endpoint(s.port);
    const state = new HealthState();
    const od = outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 99 });
    await forward(state, ep, od, [ep]);
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(true);
    expect(state.outlier.overflows).toBe(2);
    await forward(state, ep, outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 100 }), [ep]);
    expect(state.isAvailable(ep)).toBe(false);
    // Ten endpoints at 10 %: one may go.
    const ten = Array.from({ length: 10 }, (_, i) => endpoint(40000 + i));
    const st2 = new HealthState();
    const od10 = outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 10 });
    st2.report(ten[0]!, od10, 500, ten);
    st2.report(ten[1]!, od10, 500, ten);
    expect(st2.downKeys()).toEqual([ten[0]!.key]);
  });

  it("minHealthPercent: no ejection leaves fewer than that share of the pool healthy", async () => {
    const ss = await Promise.all([server(503), server(503), server(503)]);
    const pool = ss.map((s) => endpoint(s.port));
    // Off (Istio's default 0): all three can go.
    const all = new HealthState();
    const off = outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 0 });
    for (const ep of pool) expect(await forward(all, ep, off, pool)).toBe(503);
    expect(all.downKeys()).toHaveLength(3);
    // 34 %: after the first ejection 2 of 3 are healthy (67 %); a second would leave 33 %.
    const state = new HealthState();
    const od = outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 100, minHealthPercent: 34 });
    for (const ep of pool) await forward(state, ep, od, pool);
    expect(state.downKeys()).toEqual([pool[0]!.key]);
    expect(state.ejections).toBe(1);
    expect(state.outlier.overflows).toBe(2);
    // An endpoint down for another reason (its probe) counts as unhealthy too.
    const st2 = new HealthState();
    st2.setProbing(pool[2]!.key, true);
    st2.probeResult(pool[2]!.key, false, false);
    await forward(st2, pool[0]!, od, pool);
    expect(st2.isAvailable(pool[0]!)).toBe(true);
    expect(st2.outlier.overflows).toBe(1);
  });

  it("without a pool, a result may eject only when maxEjectionPercent is 100", () => {
    const state = new HealthState();
    const a = endpoint(40100);
    state.report(a, outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 50 }), 500);
    expect(state.isAvailable(a)).toBe(true);
    state.report(a, outlier({ consecutive5xxErrors: 1, maxEjectionPercent: 100 }), 500);
    expect(state.isAvailable(a)).toBe(false);
  });

  it("counts failures without a policy but never ejects", async () => {
    const s = await server(500);
    const state = new HealthState();
    const ep = endpoint(s.port);
    for (let i = 0; i < 6; i++) await forward(state, ep, undefined, [ep]);
    expect(state.isAvailable(ep)).toBe(true);
    expect(state.describe(ep.key).consecutiveFailures).toBe(6);
    expect(state.ejections).toBe(0);
  });

  it("late failures of an ejected endpoint neither re-eject nor extend the ejection", async () => {
    const s = await server(500);
    const state = new HealthState();
    const ep = endpoint(s.port);
    const od = outlier({ consecutive5xxErrors: 2, baseEjectionTimeMs: 150 });
    await forward(state, ep, od, [ep]);
    await forward(state, ep, od, [ep]);
    const until = state.describe(ep.key).ejectedUntil;
    for (let i = 0; i < 4; i++) await forward(state, ep, od, [ep]);
    expect(state.ejections).toBe(1);
    expect(state.describe(ep.key).ejectedUntil).toBe(until);
    // Counters restart at un-ejection: one more failure is not enough.
    await waitFor(() => state.isAvailable(ep), 2000, "un-ejection");
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(true);
  });
});

describe("OutlierDetector ejection time", () => {
  /** The one fake here: an ejection target on a hand-driven clock. */
  function fakeTarget() {
    let clock = 0;
    const ejected = new Map<string, number>();
    const target = {
      isEjected: (k: string) => (ejected.get(k) ?? 0) > clock,
      eject: (k: string, ms: number) => ejected.set(k, clock + ms),
      isHealthy: (k: string) => (ejected.get(k) ?? 0) <= clock,
    };
    const det = new OutlierDetector(target, { now: () => clock });
    return {
      det,
      ejected,
      advance: (ms: number) => {
        clock += ms;
      },
      now: () => clock,
    };
  }

  it("decays the multiplier by one per interval spent back in service", () => {
    const f = fakeTarget();
    const ep = { key: "10.0.0.1:80" };
    const od = outlier({ consecutive5xxErrors: 1, baseEjectionTimeMs: 1000, intervalMs: 500 });
    expect(f.det.reportResult(ep, od, 500, [ep])).toBe(true);
    expect(f.ejected.get(ep.key)).toBe(1000);
    f.advance(1000);
    f.det.unejected(ep.key);
    expect(f.det.reportResult(ep, od, 500, [ep])).toBe(true);
    expect(f.det.ejectionMultiplier(ep.key)).toBe(2);
    expect(f.ejected.get(ep.key)).toBe(1000 + 2000);
    f.advance(2000);
    f.det.unejected(ep.key);
    f.advance(1000); // two intervals healthy: 2 → 0, then this ejection makes it 1
    expect(f.det.reportResult(ep, od, 500, [ep])).toBe(true);
    expect(f.det.ejectionMultiplier(ep.key)).toBe(1);
    expect(f.ejected.get(ep.key)).toBe(f.now() + 1000);
  });

  it("caps an ejection at max(300 s, baseEjectionTime)", () => {
    const f = fakeTarget();
    const ep = { key: "10.0.0.2:80" };
    const od = outlier({ consecutive5xxErrors: 1, baseEjectionTimeMs: 200_000, intervalMs: 1_000_000 });
    f.det.reportResult(ep, od, 503, [ep]);
    expect(f.ejected.get(ep.key)).toBe(200_000);
    f.advance(200_000);
    f.det.unejected(ep.key);
    f.det.reportResult(ep, od, 503, [ep]);
    expect(f.ejected.get(ep.key)).toBe(200_000 + MAX_EJECTION_TIME_MS);
  });
});
