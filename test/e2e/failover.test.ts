/**
 * Issue 3 acceptance: killing the only gray instance of B. Within one probe period every request
 * that would go to gray-B is served by prod-B, no GET fails meanwhile, and restarting gray-B
 * brings gray back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hop, path } from "../support/apps.js";
import { eventually, sleep, startLoad } from "../support/load.js";
import { Mesh } from "../support/mesh.js";

describe("gray instance of B dies and comes back", () => {
  const mesh = new Mesh({
    probeMs: 1000,
    instances: [
      { service: "a", lane: "prod", calls: ["b:9080"] },
      { service: "a", lane: "gray", calls: ["b:9080"] },
      { service: "b", lane: "prod", calls: ["c:9080"] },
      { service: "b", lane: "gray", calls: ["c:9080"] },
      { service: "c", lane: "prod" },
      { service: "c", lane: "gray" },
    ],
  });
  let gw = "";
  beforeAll(async () => {
    await mesh.start();
    gw = `http://127.0.0.1:${mesh.gatewayPort}/`;
  }, 60_000);
  afterAll(() => mesh.stop());

  const gray = { "x-asm-prefer-tag": "gray" };
  const lanesOf = (body: string) => path(JSON.parse(body) as Hop).join(" ");

  it("serves gray everywhere while gray-B is up", async () => {
    const r = await fetch(gw, { headers: gray });
    expect(lanesOf(await r.text())).toBe("a=v2 b=v2 c=v2");
  });

  it("falls back to prod-B at once, fails no GET, and returns to gray after a restart", async () => {
    const load = startLoad(gw, { concurrency: 4, headers: gray, keepBodies: true, maxMs: 20_000 });
    await sleep(500);
    const bGray = mesh.find("b", "gray");
    await mesh.stopInstance(bGray);
    const killedAt = load.result.bodies.length;
    await sleep(1500); // more than one probe period
    const afterProbe = load.result.bodies.length;
    await sleep(500);
    const steady = load.result.bodies.slice(afterProbe).map(lanesOf);
    expect(steady.length).toBeGreaterThan(10);
    expect(new Set(steady)).toEqual(new Set(["a=v2 b=v1 c=v2"]));

    await mesh.startInstance(bGray);
    const back = await eventually(async () => {
      const r = await fetch(gw, { headers: gray });
      return lanesOf(await r.text()) === "a=v2 b=v2 c=v2";
    }, 5000);
    const res = await load.stop();
    expect(back).toBe(true);
    expect(res.errors).toEqual([]);
    expect(res.bodies.filter((b) => b.includes("error:"))).toEqual([]);
    expect(res.ok).toBe(res.sent);
    expect(killedAt).toBeGreaterThan(0);
  }, 40_000);
});
