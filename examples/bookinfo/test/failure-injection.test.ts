/** FAIL_PERCENT: a service fails exactly the share of requests it is told to, and never /health. */
import { describe, expect, it } from "vitest";
import { FailureInjector } from "../src/services/failure-injection.js";
import { OptionsError, parseServiceOptions } from "../src/services/options.js";
import { startService } from "../src/services/server.js";

describe("failure injection", () => {
  it("fails the given share of requests, evenly", () => {
    const f = new FailureInjector(25);
    const fails = Array.from({ length: 100 }, () => f.next());
    expect(fails.filter(Boolean)).toHaveLength(25);
    expect(fails.slice(0, 8)).toEqual([false, false, false, true, false, false, false, true]);
    const third = new FailureInjector(33.3);
    expect(Array.from({ length: 1000 }, () => third.next()).filter(Boolean)).toHaveLength(333);
  });

  it("reads --fail-percent or FAIL_PERCENT, 0 by default, and refuses nonsense", () => {
    const base = ["--service", "details"];
    expect(parseServiceOptions(base, {})).toMatchObject({ failPercent: 0 });
    expect(parseServiceOptions(base, { FAIL_PERCENT: "25" })).toMatchObject({ failPercent: 25 });
    expect(parseServiceOptions([...base, "--fail-percent", "10"], { FAIL_PERCENT: "25" })).toMatchObject({
      failPercent: 10,
    });
    expect(() => parseServiceOptions(base, { FAIL_PERCENT: "150" })).toThrow(OptionsError);
    expect(() => parseServiceOptions(base, { FAIL_PERCENT: "-1" })).toThrow(OptionsError);
  });

  it("answers 500 to the share of service requests, never to /health", async () => {
    const s = await startService({
      service: "details",
      version: "v1",
      port: 0,
      bind: "127.0.0.1",
      proxy: undefined,
      timeoutMs: 500,
      failPercent: 50,
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const health = await fetch(`${s.url}/health`);
        expect(health.status).toBe(200);
        await health.arrayBuffer();
        const r = await fetch(`${s.url}/details/0`);
        statuses.push(r.status);
        await r.arrayBuffer();
      }
      expect(statuses).toEqual([200, 500, 200, 500, 200, 500]);
    } finally {
      await s.close();
    }
  });
});
