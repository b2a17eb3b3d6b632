import { afterEach, describe, expect, it } from "vitest";
import {
  ActiveProber,
  type HealthEvent,
  HealthState,
  PROBE_USER_AGENT,
  type ProbeEvent,
} from "../../src/health/index.js";
import {
  closedPort,
  endpoint,
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

function setup(opts: { onProbe?: (e: ProbeEvent) => void } = {}) {
  const state = new HealthState();
  const events: ProbeEvent[] = [];
  const prober = new ActiveProber(state, {
    onProbe: (e) => {
      events.push(e);
      opts.onProbe?.(e);
    },
  });
  probers.push(prober);
  return { state, prober, events };
}

async function server(code = 200) {
  const s = await statusServer(code);
  servers.push(s);
  return s;
}

describe("ActiveProber", () => {
  it("follows a target flipping between 200 and 500, with failure and success thresholds", async () => {
    const s = await server(200);
    const { state, prober, events } = setup();
    const health: HealthEvent[] = [];
    state.onChange((e) => health.push(e));
    const ep = endpoint(
      s.port,
      probe({ port: s.port, periodMs: 50, failureThreshold: 2, successThreshold: 2 }),
    );
    prober.update([ep]);
    await prober.start();
    expect(events).toEqual([{ key: ep.key, ok: true, detail: 200, healthy: true }]);
    expect(state.isAvailable(ep)).toBe(true);

    s.status.code = 500;
    await waitFor(() => !state.isAvailable(ep), 3000, "probe down");
    const fails = events.filter((e) => !e.ok);
    expect(fails.map((e) => e.healthy)).toEqual([true, false]);
    expect(fails[0]?.detail).toBe(500);
    expect(state.describe(ep.key)).toMatchObject({ healthy: false, reason: "probe", probe: "unhealthy" });

    const mark = events.length;
    s.status.code = 200;
    await waitFor(() => state.isAvailable(ep), 3000, "probe up");
    expect(events.slice(mark).map((e) => [e.ok, e.healthy])).toEqual([
      [true, false],
      [true, true],
    ]);
    expect(health.map((e) => `${e.change}:${e.reason}`)).toEqual(["down:probe", "up:probe"]);
    // Probes every ~50 ms: all of the above took a handful of periods.
    expect(s.hits.length).toBeGreaterThanOrEqual(5);
  });

  it("marks a refused probe target unhealthy at its first result, before start() resolves", async () => {
    const { state, prober, events } = setup();
    const port = await closedPort();
    const ep = endpoint(port, probe({ port, failureThreshold: 3 }));
    prober.update([ep]);
    await prober.start();
    expect(events).toEqual([{ key: ep.key, ok: false, detail: "ECONNREFUSED", healthy: false }]);
    expect(state.isAvailable(ep)).toBe(false);
  });

  it("counts an endpoint as healthy until its first result, and honours initialDelayMs", async () => {
    const s = await server(500);
    const { state, prober } = setup();
    const ep = endpoint(s.port, probe({ port: s.port, initialDelayMs: 150 }));
    prober.update([ep]);
    await prober.start();
    expect(state.describe(ep.key).probe).toBe("unknown");
    expect(state.isAvailable(ep)).toBe(true);
    await sleep(80);
    expect(s.hits.length).toBe(0);
    await waitFor(() => !state.isAvailable(ep), 2000, "first probe");
    expect(s.hits.length).toBe(1);
  });

  it("fails a probe that gets no answer within timeoutMs, and closes its connection", async () => {
    let closed = 0;
    const s = await startServer((req) => req.socket.on("close", () => closed++));
    servers.push(s);
    const { state, prober, events } = setup();
    const ep = endpoint(s.port, probe({ port: s.port, timeoutMs: 80, periodMs: 10_000 }));
    prober.update([ep]);
    const t0 = Date.now();
    await prober.start();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(70);
    expect(events).toEqual([{ key: ep.key, ok: false, detail: "timeout", healthy: false }]);
    expect(state.isAvailable(ep)).toBe(false);
    await waitFor(() => closed === 1, 2000, "probe connection closed");
    expect(prober.inFlight).toBe(0);
  });

  it("treats 2xx-3xx as success and 4xx as failure", async () => {
    const codes: Record<string, number> = { "/ok": 204, "/moved": 302, "/missing": 404 };
    const s = await startServer((req, res) => {
      res.writeHead(codes[req.url ?? ""] ?? 500, { location: "/elsewhere" });
      res.end();
    });
    servers.push(s);
    const { prober, events } = setup();
    const eps = Object.keys(codes).map((path, i) =>
      endpoint(50_000 + i, probe({ port: s.port, path, host: "127.0.0.1" }), "192.0.2.1"),
    );
    prober.update(eps);
    await prober.start();
    const byKey = new Map(events.map((e) => [e.key, [e.ok, e.detail]]));
    expect(eps.map((ep) => byKey.get(ep.key))).toEqual([
      [true, 204],
      [true, 302],
      [false, 404],
    ]);
  });

  it("sends GET to probe.host:port/path with the probe's headers and a fresh connection", async () => {
    const s = await server(200);
    const { prober } = setup();
    // The endpoint's own address is unroutable (TEST-NET-1): only probe.host can reach the server.
    const ep = endpoint(
      8080,
      probe({
        port: s.port,
        host: "127.0.0.1",
        path: "/ready?full=1",
        headers: [
          ["Host", "reviews.internal"],
          ["X-Probe", "lanecar"],
        ],
        periodMs: 10_000,
      }),
      "192.0.2.1",
    );
    prober.update([ep]);
    await prober.start();
    expect(prober.healthy(ep.key)).toBe(true);
    const req = s.hits[0]!;
    expect(req.method).toBe("GET");
    expect(req.url).toBe("/ready?full=1");
    expect(req.headers.host).toBe("reviews.internal");
    expect(req.headers["x-probe"]).toBe("lanecar");
    expect(req.headers["user-agent"]).toBe(PROBE_USER_AGENT);
    expect(req.headers.connection).toBe("close");
  });

  it("update() keeps the state of unchanged keys, stops removed ones and starts new ones", async () => {
    const down = await server(500);
    const gone = await server(200);
    const fresh = await server(500);
    const { state, prober } = setup();
    const mk = (s: TestServer, path = "/healthz") =>
      endpoint(s.port, probe({ port: s.port, periodMs: 60, failureThreshold: 3, path }));
    const a = mk(down);
    const b = mk(gone);
    prober.update([a, b]);
    await prober.start();
    expect(state.isAvailable(a)).toBe(false);
    expect(state.isAvailable(b)).toBe(true);

    // A new snapshot: new Endpoint objects for a, b removed, c added.
    const a2 = mk(down);
    const c = mk(fresh);
    prober.update([a2, c]);
    // a keeps its status: no reset to "unknown", so no flap to available.
    expect(state.isAvailable(a2)).toBe(false);
    expect(state.describe(a2.key).probe).toBe("unhealthy");
    expect(state.describe(b.key).probe).toBeNull();
    expect(prober.keys().sort()).toEqual([a.key, c.key].sort());
    await waitFor(() => !state.isAvailable(c), 2000, "new endpoint probed");
    const goneHits = gone.hits.length;
    await sleep(200);
    expect(gone.hits.length).toBe(goneHits);
    expect(down.hits.length).toBeGreaterThanOrEqual(3);

    // A changed probe spec on an unchanged key is applied, status kept.
    prober.update([mk(down, "/v2/healthz"), c]);
    expect(state.isAvailable(a)).toBe(false);
    await waitFor(() => down.hits.some((r) => r.url === "/v2/healthz"), 2000, "new probe path");
  });

  it("stop() clears every timer and probe in flight; nothing is sent afterwards", async () => {
    const s = await server(200);
    let hangingClosed = false;
    const hanging = await startServer((req) => req.socket.on("close", () => (hangingClosed = true)));
    servers.push(hanging);
    const { state, prober } = setup();
    const ep = endpoint(s.port, probe({ port: s.port, periodMs: 50 }));
    const slow = endpoint(hanging.port, probe({ port: hanging.port, timeoutMs: 10_000, periodMs: 50 }));
    prober.update([ep, slow]);
    void prober.start();
    await waitFor(() => s.hits.length >= 2 && hanging.hits.length === 1, 2000, "probes running");
    // Each target has exactly one of: a timer for its next probe, a probe in flight.
    expect(prober.inFlight).toBeGreaterThanOrEqual(1);
    expect(prober.inFlight + prober.pendingTimers).toBe(2);
    prober.stop();
    expect(prober.pendingTimers).toBe(0);
    expect(prober.inFlight).toBe(0);
    expect(prober.keys()).toEqual([]);
    expect(state.describe(ep.key).probe).toBeNull();
    await waitFor(() => hangingClosed, 2000, "in-flight probe aborted");
    const hits = s.hits.length;
    await sleep(200);
    expect(s.hits.length).toBe(hits);
  });

  it("stop() resolves a pending start()", async () => {
    const hanging = await startServer(() => {});
    servers.push(hanging);
    const { prober } = setup();
    prober.update([endpoint(hanging.port, probe({ port: hanging.port, timeoutMs: 10_000 }))]);
    const started = prober.start();
    await waitFor(() => hanging.hits.length === 1, 2000, "probe sent");
    prober.stop();
    await expect(started).resolves.toBeUndefined();
  });
});
