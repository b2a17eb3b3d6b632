import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ActiveProber, HEALTH_CHANNEL, type HealthEvent, HealthState } from "../../src/health/index.js";
import {
  closedPort,
  closeForwarder,
  endpoint,
  forward,
  outlier,
  probe,
  sleep,
  startServer,
  statusServer,
  type TestServer,
  waitFor,
} from "./helpers.js";

const servers: TestServer[] = [];
const probers: ActiveProber[] = [];
afterEach(async () => {
  for (const p of probers.splice(0)) p.stop();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(closeForwarder);

describe("HealthState", () => {
  it("starts with every endpoint available, idle and healthy in the admin view", () => {
    const state = new HealthState();
    const ep = endpoint(1234);
    expect(state.isAvailable(ep)).toBe(true);
    expect(state.activeRequests(ep)).toBe(0);
    expect(state.downKeys()).toEqual([]);
    expect(state.describe(ep.key)).toEqual({
      healthy: true,
      reason: null,
      ejectedUntil: null,
      consecutiveFailures: 0,
      active: 0,
      probe: null,
    });
    expect(state.snapshot()).toEqual({});
  });

  it("counts requests in flight with begin/end, never below zero", async () => {
    const held: ServerResponse[] = [];
    const s = await startServer((_req: IncomingMessage, res) => held.push(res));
    servers.push(s);
    const state = new HealthState();
    const ep = endpoint(s.port);
    const inflight = [
      forward(state, ep, undefined),
      forward(state, ep, undefined),
      forward(state, ep, undefined),
    ];
    await waitFor(() => held.length === 3, 3000, "three requests at the server");
    expect(state.activeRequests(ep)).toBe(3);
    expect(state.describe(ep.key).active).toBe(3);
    for (const r of held) r.end("ok");
    await Promise.all(inflight);
    expect(state.activeRequests(ep)).toBe(0);
    state.end(ep);
    expect(state.activeRequests(ep)).toBe(0);
  });

  it("marks an endpoint down at the first refused connection, with no outlier policy", async () => {
    const state = new HealthState({ connectFailureBackoffMs: 5000 });
    const events: HealthEvent[] = [];
    state.onChange((e) => events.push(e));
    const ep = endpoint(await closedPort());
    const other = endpoint(await closedPort());
    expect(await forward(state, ep, undefined)).toBe("connect-failure");
    expect(state.isAvailable(ep)).toBe(false);
    expect(state.isAvailable(other)).toBe(true);
    expect(state.downKeys()).toEqual([ep.key]);
    expect(events).toEqual([
      expect.objectContaining({ key: ep.key, change: "down", reason: "connect-failure", available: false }),
    ]);
    expect(events[0]?.until).toBeGreaterThan(Date.now() + 3000);
    const view = state.describe(ep.key);
    expect(view).toMatchObject({
      healthy: false,
      reason: "connect-failure",
      ejectedUntil: null,
      consecutiveFailures: 1,
    });
    // Outlier ejection is a separate thing: none happened.
    expect(state.ejections).toBe(0);
  });

  it("brings an endpoint without probe back after the connect-failure back-off", async () => {
    const s = await statusServer(200);
    const port = s.port;
    await s.close();
    const state = new HealthState({ connectFailureBackoffMs: 120 });
    const events: HealthEvent[] = [];
    state.onChange((e) => events.push(e));
    const ep = endpoint(port);
    expect(await forward(state, ep, undefined)).toBe("connect-failure");
    expect(state.isAvailable(ep)).toBe(false);
    // The instance comes back on the same port.
    servers.push(await startServer((_req, res) => res.end("back"), port));
    await sleep(40);
    expect(state.isAvailable(ep)).toBe(false);
    await waitFor(() => state.isAvailable(ep), 2000, "back-off to end");
    expect(await forward(state, ep, undefined)).toBe(200);
    expect(events.map((e) => `${e.change}:${e.reason}`)).toEqual([
      "down:connect-failure",
      "up:connect-failure",
    ]);
    expect(state.describe(ep.key)).toMatchObject({ healthy: true, reason: null, consecutiveFailures: 0 });
  });

  it("a success on another connection does not end a connect-failure mark", async () => {
    const s = await statusServer(200);
    servers.push(s);
    const state = new HealthState({ connectFailureBackoffMs: 5000 });
    const ep = endpoint(s.port);
    state.report(ep, undefined, "connect-failure");
    expect(await forward(state, ep, undefined)).toBe(200);
    expect(state.isAvailable(ep)).toBe(false);
  });

  it("keeps a probed endpoint down after a refused connection until its probe succeeds", async () => {
    // The workload's serving port refuses, its health port answers 200.
    const health = await statusServer(200);
    servers.push(health);
    const state = new HealthState({ connectFailureBackoffMs: 10 });
    const probed: number[] = [];
    const prober = new ActiveProber(state, { onProbe: () => probed.push(Date.now()) });
    probers.push(prober);
    const ep = endpoint(await closedPort(), probe({ port: health.port, periodMs: 300 }));
    prober.update([ep]);
    await prober.start();
    expect(state.describe(ep.key).probe).toBe("healthy");
    const before = probed.length;
    expect(await forward(state, ep, undefined)).toBe("connect-failure");
    expect(state.isAvailable(ep)).toBe(false);
    // Longer than the back-off, shorter than the probe period: still waiting for the probe.
    await sleep(60);
    expect(probed.length).toBe(before);
    expect(state.isAvailable(ep)).toBe(false);
    await waitFor(() => probed.length > before, 2000, "next probe");
    expect(state.isAvailable(ep)).toBe(true);
  });

  it("a passing probe ends an outlier ejection at once, counters cleared (successful_active_health_check_uneject_host)", async () => {
    const s = await statusServer(500);
    servers.push(s);
    const state = new HealthState();
    const events: HealthEvent[] = [];
    state.onChange((e) => events.push(e));
    const ep = endpoint(s.port, probe());
    state.setProbing(ep.key, true);
    state.probeResult(ep.key, true, true);
    const od = outlier({ consecutive5xxErrors: 2, baseEjectionTimeMs: 60_000 });
    await forward(state, ep, od, [ep]);
    await forward(state, ep, od, [ep]);
    expect(state.describe(ep.key)).toMatchObject({ healthy: false, reason: "outlier", probe: "healthy" });
    // A probe that passes while its thresholds still hold the endpoint unhealthy does not.
    state.probeResult(ep.key, false, false);
    state.probeResult(ep.key, true, false);
    expect(state.describe(ep.key).reason).toBe("probe");
    expect(state.describe(ep.key).ejectedUntil).not.toBeNull();
    state.probeResult(ep.key, true, true);
    expect(state.isAvailable(ep)).toBe(true);
    expect(state.describe(ep.key)).toMatchObject({ healthy: true, reason: null, ejectedUntil: null });
    expect(events.map((e) => `${e.change}:${e.reason}`)).toEqual([
      "down:outlier",
      "down:probe",
      "up:outlier",
      "up:probe",
    ]);
    // Counters restarted: one more 500 does not eject again.
    await forward(state, ep, od, [ep]);
    expect(state.isAvailable(ep)).toBe(true);
    // An endpoint without probe stays ejected: only a probe can end it early.
    const s2 = await statusServer(500);
    servers.push(s2);
    const plain = endpoint(s2.port);
    await forward(state, plain, od, [plain]);
    await forward(state, plain, od, [plain]);
    state.probeResult(plain.key, true, true);
    expect(state.isAvailable(plain)).toBe(false);
  });

  it("falls back to the back-off when the probe of a connect-failed endpoint stops", async () => {
    const health = await statusServer(200);
    servers.push(health);
    const state = new HealthState({ connectFailureBackoffMs: 50 });
    const prober = new ActiveProber(state);
    probers.push(prober);
    const ep = endpoint(await closedPort(), probe({ port: health.port, periodMs: 10_000 }));
    prober.update([ep]);
    await prober.start();
    state.report(ep, undefined, "connect-failure");
    await sleep(80);
    expect(state.isAvailable(ep)).toBe(false);
    prober.update([]);
    expect(state.isAvailable(ep)).toBe(false);
    await waitFor(() => state.isAvailable(ep), 2000, "back-off after probe removal");
  });

  it("retain() forgets endpoints that left the config and keeps the others' state", async () => {
    const state = new HealthState({ connectFailureBackoffMs: 5000 });
    const a = endpoint(await closedPort());
    const b = endpoint(await closedPort());
    await forward(state, a, outlier());
    await forward(state, b, outlier());
    expect(state.downKeys().sort()).toEqual([a.key, b.key].sort());
    state.retain(new Set([a.key]));
    expect(state.isAvailable(a)).toBe(false);
    expect(state.isAvailable(b)).toBe(true);
    expect(Object.keys(state.snapshot())).toEqual([a.key]);
    expect(state.describe(a.key).consecutiveFailures).toBe(1);
    expect(state.describe(b.key).consecutiveFailures).toBe(0);
  });

  it("survives a throwing listener and stops calling an unsubscribed one", async () => {
    const state = new HealthState({ connectFailureBackoffMs: 5000 });
    const seen: string[] = [];
    state.onChange(() => {
      throw new Error("boom");
    });
    const off = state.onChange((e) => seen.push(e.key));
    const a = endpoint(await closedPort());
    const b = endpoint(await closedPort());
    await forward(state, a, undefined);
    off();
    await forward(state, b, undefined);
    expect(seen).toEqual([a.key]);
    expect(state.isAvailable(a)).toBe(false);
    expect(state.isAvailable(b)).toBe(false);
  });

  it("publishes events on the lanecar:health diagnostics channel", async () => {
    const seen: unknown[] = [];
    const sub = (m: unknown) => seen.push(m);
    subscribe(HEALTH_CHANNEL, sub);
    try {
      const state = new HealthState({ connectFailureBackoffMs: 5000 });
      const ep = endpoint(await closedPort());
      await forward(state, ep, undefined);
      expect(seen).toEqual([
        expect.objectContaining({ key: ep.key, change: "down", reason: "connect-failure" }),
      ]);
    } finally {
      unsubscribe(HEALTH_CHANNEL, sub);
    }
  });
});
