/**
 * Issue 6, item 8: a config reload that is malformed, references a missing subset or makes a
 * fallback cycle is rejected while traffic continues on the last good config — at 1,000
 * requests a second, with zero errors — and a good reload after them still applies.
 */
import { writeFileSync } from "node:fs";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, sleep } from "../support/load.js";
import { metric } from "../support/metrics.js";
import { laneSubsets, type Started, serviceEntry, startSidecarProcess } from "./support/proxy.js";
import { type RecordingUpstream, startRecordingUpstream } from "./support/recording-upstream.js";
import { header } from "./support/strict-http.js";

const RATE = 1000;

function config(upPort: number, vs: string): string {
  return [
    serviceEntry("up", [{ port: upPort, labels: { ASM_TRAFFIC_TAG: "prod" } }]),
    laneSubsets("up"),
    vs,
  ].join("\n---\n");
}

const vsWith = (body: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: up}
spec:
  hosts: [up]
  http:
${body}`;

const GOOD = vsWith(`  - headers: {request: {set: {x-config: v1}}}
    route: [{destination: {host: up, subset: prod}}]`);
const BAD: [RegExp, string][] = [
  [
    /yaml|flow|unexpected|expected/i,
    `${vsWith("  - route: [{destination: {host: up, subset: prod}}")}\n  - {{{`,
  ],
  [/nowhere/, vsWith("  - route: [{destination: {host: up, subset: nowhere}}]")],
  [
    /cycle/i,
    vsWith(`  - route:
    - destination: {host: up, subset: gray}
      fallback:
        case: noinstances
        target:
          host: up
          subset: prod
          fallback: {case: noinstances, target: {host: up, subset: gray}}`),
  ],
];
const NEXT = vsWith(`  - headers: {request: {set: {x-config: v2}}}
    route: [{destination: {host: up, subset: prod}}]`);

describe("config reloads under load", () => {
  let up: RecordingUpstream;
  let sc: Started;
  beforeAll(async () => {
    up = await startRecordingUpstream("echo");
    sc = await startSidecarProcess({ yaml: config(up.port, GOOD), appPort: up.port });
  });
  afterAll(async () => {
    await sc?.stop();
    await up?.close();
  });

  it(`rejects bad reloads with zero errors at ${RATE} requests/s, then applies a good one`, async () => {
    const agent = new Agent({ connections: 32 });
    const statuses = new Map<string, number>();
    let sent = 0;
    let running = true;
    const inflight = new Set<Promise<void>>();
    const one = async () => {
      try {
        const r = await request(`http://127.0.0.1:${sc.outbound}/`, {
          headers: { host: "up:9080" },
          dispatcher: agent,
        });
        await r.body.text();
        const k = String(r.statusCode);
        statuses.set(k, (statuses.get(k) ?? 0) + 1);
      } catch (err) {
        statuses.set(String((err as Error).message), (statuses.get(String((err as Error).message)) ?? 0) + 1);
      }
    };
    // Paced open-loop load: RATE/100 requests every 10 ms (bounded by time below).
    const started = Date.now();
    const pacer = (async () => {
      while (running && Date.now() - started < 15_000) {
        const due = Math.floor(((Date.now() - started) / 1000) * RATE);
        while (sent < due) {
          sent++;
          const p = one().finally(() => inflight.delete(p));
          inflight.add(p);
        }
        await sleep(10);
      }
      return (Date.now() - started) / 1000;
    })();

    await sleep(500);
    const errorsBefore = await metric(sc.admin, "lanecar_config_reloads_total", { result: "error" });
    let rejected = 0;
    for (const [reason, vs] of BAD) {
      writeFileSync(sc.configPath, config(up.port, vs));
      rejected++;
      expect(
        await eventually(
          async () =>
            (await metric(sc.admin, "lanecar_config_reloads_total", { result: "error" })) >=
            errorsBefore + rejected,
          5000,
        ),
      ).toBe(true);
      const dump = (await (await fetch(`http://${sc.admin}/config_dump`)).json()) as {
        lastReloadError: { errors: string[] } | null;
      };
      expect(dump.lastReloadError?.errors.join("\n")).toMatch(reason);
      await sleep(300);
    }
    // Still the last good config: the upstream sees v1.
    up.reset();
    await sleep(200);
    expect(up.requests.length).toBeGreaterThan(0);
    expect(new Set(up.requests.map((q) => header(q, "x-config")))).toEqual(new Set(["v1"]));

    writeFileSync(sc.configPath, config(up.port, NEXT));
    expect(
      await eventually(async () => {
        up.reset();
        await sleep(100);
        return up.requests.length > 0 && up.requests.every((q) => header(q, "x-config") === "v2");
      }, 5000),
    ).toBe(true);
    await sleep(300);
    running = false;
    const elapsed = await pacer;
    await Promise.all([...inflight]);
    await agent.close();

    expect(Object.fromEntries(statuses)).toEqual({ "200": sent });
    expect(sent).toBeGreaterThanOrEqual(Math.floor(elapsed * RATE * 0.9));
    expect(await metric(sc.admin, "lanecar_config_reloads_total", { result: "error" })).toBe(
      errorsBefore + BAD.length,
    );
  }, 30_000);
});
