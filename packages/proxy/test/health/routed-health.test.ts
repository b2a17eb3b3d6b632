/**
 * Outlier ejection on the real path (a ProxyProcess's outbound RoutedListener, its HealthMonitor
 * and pools) against loopback upstreams: the Envoy/Istio limits that keep one race from taking a
 * lane down (maxEjectionPercent, minHealthPercent), and a passing WorkloadGroup probe bringing an
 * ejected instance back.
 */
import { describe, expect, it } from "vitest";
import {
  call,
  destinationRule,
  serviceEntry,
  stoppedAfterEach,
  type UpstreamHandler,
  waitFor,
} from "../upstream/harness.js";

const { up, start } = stoppedAfterEach();

/** Closes the connection of the first request it gets (a keep-alive race: `503 UC`), then answers 200. */
function racesOnce(): UpstreamHandler {
  let first = true;
  return (req, res) => {
    if (first) {
      first = false;
      req.socket.destroy();
      return;
    }
    res.end("ok");
  };
}

const reset: UpstreamHandler = (req) => req.socket.destroy();

describe("ejection limits on the routed path", () => {
  it("one 503 UC does not eject the only instance of a service (maxEjectionPercent default 10)", async () => {
    const u = await up(racesOnce());
    const s = await start([
      serviceEntry("reviews", [{ port: u.port }]),
      destinationRule("reviews", "{outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 15s}}"),
    ]);
    // A POST is not retried: the client sees the race.
    expect(await call(s.port, "reviews", "POST", "x")).toMatchObject({ status: 503, flags: "UC" });
    expect(await call(s.port, "reviews")).toMatchObject({ status: 200, text: "ok" });
    expect(s.health.ejections).toBe(0);
    expect(s.health.outlier.overflows).toBe(1);

    // The same race with maxEjectionPercent: 100 does eject it (what Envoy does too).
    const v = await up(racesOnce());
    const t = await start([
      serviceEntry("reviews", [{ port: v.port }]),
      destinationRule(
        "reviews",
        "{outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 15s, maxEjectionPercent: 100}}",
      ),
    ]);
    expect(await call(t.port, "reviews", "POST", "x")).toMatchObject({ status: 503, flags: "UC" });
    expect(await call(t.port, "reviews")).toMatchObject({ status: 503, flags: "UH" });
    expect(t.health.ejections).toBe(1);
  });

  it("three instances: maxEjectionPercent 50 ejects one; minHealthPercent 50 keeps two; neither set ejects all", async () => {
    const run = async (policy: string) => {
      const us = await Promise.all([up(reset), up(reset), up(reset)]);
      const s = await start([
        serviceEntry(
          "reviews",
          us.map((u) => ({ port: u.port })),
        ),
        destinationRule(
          "reviews",
          `{outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 30s, ${policy}}}`,
        ),
      ]);
      // Every instance sees a request and resets it (POSTs: no retry blurs the count).
      for (let i = 0; i < 6; i++) expect((await call(s.port, "reviews", "POST", "x")).status).toBe(503);
      expect(us.every((u) => u.requests.length > 0)).toBe(true);
      return { ejected: s.health.downKeys().length, ejections: s.health.ejections };
    };
    expect(await run("maxEjectionPercent: 50")).toEqual({ ejected: 1, ejections: 1 });
    expect(await run("maxEjectionPercent: 100, minHealthPercent: 50")).toEqual({ ejected: 1, ejections: 1 });
    expect(await run("maxEjectionPercent: 100")).toEqual({ ejected: 3, ejections: 3 });
  });
});

describe("a recovered instance comes back", () => {
  it("an ejected instance is un-ejected by its next passing WorkloadGroup probe, not after baseEjectionTime", async () => {
    const mode = { app: 200, health: 200 };
    let probes = 0;
    const u = await up((req, res) => {
      if (req.url === "/health") {
        probes++;
        res.writeHead(mode.health);
        res.end();
        return;
      }
      res.writeHead(mode.app);
      res.end(String(mode.app));
    });
    const s = await start([
      serviceEntry("reviews", [{ port: u.port, labels: { app: "reviews", version: "v2" } }]),
      destinationRule(
        "reviews",
        "{outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 60s, maxEjectionPercent: 100}}",
      ),
      `apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: reviews-v2}
spec:
  metadata:
    labels: {app: reviews, version: v2}
  probe:
    httpGet: {path: /health, port: ${u.port}}
    periodSeconds: 1
    failureThreshold: 1
    successThreshold: 1`,
    ]);
    const key = `127.0.0.1:${u.port}`;
    expect(await call(s.port, "reviews")).toMatchObject({ status: 200 });
    // Just after a probe (the next is a period away) the instance restarts: 503s, probe failing.
    const seen = probes;
    await waitFor(() => probes > seen, 5000, "a probe");
    mode.app = 503;
    mode.health = 503;
    expect(await call(s.port, "reviews")).toMatchObject({ status: 503, text: "503" });
    const view = s.health.describe(key);
    expect(view.reason).toBe("outlier");
    expect(view.ejectedUntil).toBeGreaterThan(Date.now() + 50_000);
    await waitFor(() => s.health.describe(key).probe === "unhealthy", 5000, "the failing probe");
    expect(await call(s.port, "reviews")).toMatchObject({ status: 503, flags: "UH" });
    // It is back up: the next passing probe returns it, long before the 60 s ejection ends.
    mode.app = 200;
    mode.health = 200;
    const t0 = performance.now();
    let r = await call(s.port, "reviews");
    while (r.status !== 200 && performance.now() - t0 < 15_000) {
      await new Promise((res) => setTimeout(res, 100));
      r = await call(s.port, "reviews");
    }
    expect(r).toMatchObject({ status: 200, text: "200" });
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(s.health.describe(key)).toMatchObject({
      healthy: true,
      reason: null,
      ejectedUntil: null,
      probe: "healthy",
      consecutiveFailures: 0,
    });
  });
});
