/**
 * Bookinfo with traffic lanes, process mode: every instance is an app plus its own `lanecar
 * sidecar`, the gateway in front, all real processes on loopback (free ports, so a running
 * `pnpm demo` does not collide). Walks the ASM story of tour-steps.ts exactly as `pnpm demo:tour`
 * does and asserts every hop for every kind of user, then the full demo: jason, the dev lane, the
 * product page, and the gateway's weighted, sticky share of new visitors.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookinfoRunner } from "../../examples/bookinfo/src/demo/runner.js";
import { applyStep, askLanes, awaitStep, formatLanes } from "../../examples/bookinfo/src/demo/tour.js";
import { TOUR } from "../../examples/bookinfo/src/demo/tour-steps.js";
import { INSTANCES } from "../../examples/bookinfo/src/topology.js";

let runner: BookinfoRunner;

beforeAll(async () => {
  runner = await BookinfoRunner.create({ ports: "free" });
}, 60_000);

afterAll(async () => {
  await runner?.stopAll();
}, 60_000);

/** The "which version served each hop" table of the product page, as a lane map. */
function pageHops(html: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const m of html.matchAll(/<tr data-hop="([a-z]+)" data-version="([^"]*)"/g)) out[m[1]!] = m[2] || null;
  return out;
}

/** Requests as jason, back to back, while `during` runs; every answer must be a clean 200 lane map. */
async function steadyGets(during: Promise<unknown>): Promise<{ sent: number; bad: string[] }> {
  let done = false;
  void during.finally(() => {
    done = true;
  });
  let sent = 0;
  const bad: string[] = [];
  while (!done) {
    const a = await askLanes(runner.gatewayUrl, { "end-user": "jason" });
    sent++;
    const failedHop = a.lanes && Object.values(a.lanes).some((v) => String(v).startsWith("error:"));
    if (a.status !== 200 || !a.lanes || failedHop) bad.push(`${a.status} ${a.body.slice(0, 200)}`);
  }
  await during;
  return { sent, bad };
}

describe("Bookinfo lanes demo, process mode: the ASM walkthrough step by step", () => {
  for (const [n, step] of TOUR.entries()) {
    it(step.title, async () => {
      if (n === 0) {
        await applyStep(runner, step);
        await runner.startGateway();
      } else if (step.kill.length > 0) {
        // Killing the only gray instance must not fail a single GET: the sidecar falls back.
        const load = await steadyGets(applyStep(runner, step));
        expect(load.bad).toEqual([]);
        expect(load.sent).toBeGreaterThan(0);
      } else {
        await applyStep(runner, step);
      }
      const r = await awaitStep(runner, step, 15_000);
      const seen = Object.fromEntries(r.observations.map((o) => [o.user.name, o.answer.lanes]));
      expect(
        seen,
        r.observations.map((o) => `${o.user.name}: ${formatLanes(o.answer.lanes)}`).join("\n"),
      ).toEqual(step.expect);
      // Once settled it stays settled: ask again, several times, for every user.
      for (let k = 0; k < 3; k++) {
        for (const o of r.observations) {
          const again = await askLanes(runner.gatewayUrl, o.user.headers);
          expect(again.status).toBe(200);
          expect(again.lanes).toEqual(o.want);
        }
      }
      expect(r.failures).toEqual([]);
      // The page a person reads says the same, hop by hop.
      for (const o of r.observations) {
        const page = await fetch(`${runner.gatewayUrl}/productpage`, { headers: o.user.headers });
        expect(page.status).toBe(200);
        expect(pageHops(await page.text())).toEqual(o.want);
      }
    }, 60_000);
  }
});

describe("Bookinfo lanes demo, process mode: every lane running", () => {
  beforeAll(async () => {
    await runner.startAll(INSTANCES.map((i) => i.name));
    // Wait until the gateway and sidecars see the new instances (probes every 2 s).
    const until = Date.now() + 15_000;
    for (;;) {
      const jason = await askLanes(runner.gatewayUrl, { "end-user": "jason" });
      const dev = await askLanes(runner.gatewayUrl, { "x-asm-prefer-tag": "dev" });
      if (jason.lanes?.productpage === "v2" && dev.lanes?.reviews === "v3") break;
      if (Date.now() > until) throw new Error(`lanes did not settle: ${jason.body} ${dev.body}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 60_000);

  it("jason is gray wherever gray exists: productpage v2, details v1 (prod), reviews v2, ratings v2", async () => {
    for (const headers of <Record<string, string>[]>[
      { "end-user": "jason" },
      { cookie: "user=jason" },
      { "x-asm-prefer-tag": "gray" },
    ]) {
      const a = await askLanes(runner.gatewayUrl, headers);
      expect(a.lanes).toEqual({ productpage: "v2", details: "v1", reviews: "v2", ratings: "v2" });
    }
  });

  it("the dev lane has only reviews v3: every other hop falls back to prod, ratings included", async () => {
    const a = await askLanes(runner.gatewayUrl, { "x-asm-prefer-tag": "dev" });
    expect(a.lanes).toEqual({ productpage: "v1", details: "v1", reviews: "v3", ratings: "v1" });
  });

  it("a prod user never leaves prod", async () => {
    for (let k = 0; k < 10; k++) {
      const a = await askLanes(runner.gatewayUrl, { cookie: "lane=prod" });
      expect(a.lanes).toEqual({ productpage: "v1", details: "v1", reviews: "v1", ratings: "v1" });
    }
  });

  it("the product page shows jason the gray page: banner, black stars, and the version of every hop", async () => {
    const r = await fetch(`${runner.gatewayUrl}/productpage`, { headers: { "end-user": "jason" } });
    expect(r.status).toBe(200);
    const html = await r.text();
    expect(html).toContain('id="banner"');
    expect(html).toContain("The Comedy of Errors");
    expect(
      [...html.matchAll(/class="stars" data-stars="(\d)" data-color="(\w+)"/g)].map((m) => [m[1], m[2]]),
    ).toEqual([
      ["1", "black"],
      ["2", "black"],
    ]);
    const hops = Object.fromEntries(
      [...html.matchAll(/<tr data-hop="([a-z]+)" data-version="([^"]*)" data-lane="([^"]*)">/g)].map((m) => [
        m[1],
        [m[2], m[3]],
      ]),
    );
    expect(hops).toEqual({
      productpage: ["v2", "gray"],
      details: ["v1", "prod"],
      reviews: ["v2", "gray"],
      ratings: ["v2", "gray"],
    });
  });

  it("new visitors: about 10% are drawn into gray, and each one's lane is sticky", async () => {
    const n = 300;
    let gray = 0;
    const jars: { cookie: string; lane: string }[] = [];
    for (let k = 0; k < n; k++) {
      const a = await askLanes(runner.gatewayUrl, {});
      expect(a.status).toBe(200);
      const lane = /lane=(\w+)/.exec(a.setCookie ?? "")?.[1];
      expect(lane === "gray" || lane === "prod", `set-cookie: ${a.setCookie}`).toBe(true);
      // What the visitor was served matches the lane it was told.
      expect(a.lanes?.reviews).toBe(lane === "gray" ? "v2" : "v1");
      if (lane === "gray") gray++;
      if (jars.length < 20 && (lane === "gray" || jars.filter((j) => j.lane === "prod").length < 10))
        jars.push({ cookie: `lane=${lane}`, lane: lane! });
    }
    // Binomial(300, 0.1): mean 30, sd 5.2; ±3.5 sd.
    expect(gray).toBeGreaterThanOrEqual(12);
    expect(gray).toBeLessThanOrEqual(48);
    for (const jar of jars) {
      for (let k = 0; k < 5; k++) {
        const a = await askLanes(runner.gatewayUrl, { cookie: jar.cookie });
        expect(a.setCookie).toBeNull();
        expect(a.lanes?.productpage).toBe(jar.lane === "gray" ? "v2" : "v1");
        expect(a.lanes?.reviews).toBe(jar.lane === "gray" ? "v2" : "v1");
      }
    }
  }, 60_000);
});
