/**
 * Issue 11 item 15: the data path is chosen at start-up. On a Node whose `_http_common` binding
 * is gone (simulated by a preload that makes requiring it fail, as removal would), Lanecar logs
 * the fallback and serves traffic on node:http + undici; `LANECAR_DATA_PATH` forces a path, and
 * forcing the codec where it cannot run is a one-line error.
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "../support/apps.js";
import { type Running, runLanecarToExit, startLanecar } from "../support/lanecar.js";
import { freePort, freePorts } from "../support/ports.js";

const NO_HTTP_COMMON = fileURLToPath(new URL("../support/no-http-common.cjs", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../examples/bookinfo/config/shared", import.meta.url));

/** `lanecar sidecar` expected to fail at start; its exit code and stderr. */
function runFailing(env: Record<string, string>) {
  return runLanecarToExit(
    ["sidecar", "--config", CONFIG, "--service", "reviews", "--inbound", "127.0.0.1:0"],
    env,
  );
}

async function startSidecar(env: Record<string, string>): Promise<{ sc: Running; inbound: string }> {
  const [inb, outb, adm] = await freePorts(3);
  const sc = await startLanecar(
    [
      "sidecar",
      "--config",
      CONFIG,
      "--service",
      "reviews",
      "--app",
      `http://127.0.0.1:${appPort}`,
      "--inbound",
      `127.0.0.1:${inb}`,
      "--outbound",
      `127.0.0.1:${outb}`,
    ],
    `127.0.0.1:${adm}`,
    env,
  );
  return { sc, inbound: `http://127.0.0.1:${inb}` };
}

let app: TestApp;
let appPort = 0;

beforeAll(async () => {
  appPort = await freePort();
  app = await startApp({ service: "reviews", version: "v1", port: appPort });
});
afterAll(async () => {
  await app?.close();
});

describe("data path selection at start-up", () => {
  it("runs on the codec when the binding passes the start-up check", async () => {
    const { sc, inbound } = await startSidecar({ LANECAR_DATA_PATH: "" });
    try {
      expect(sc.stderr()).toMatch(
        /data path: Lanecar HTTP\/1\.1 codec \(Node v\d+.*passed the start-up check\)/,
      );
      const r = await fetch(`${inbound}/x`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as { version: string }).version).toBe("v1");
    } finally {
      expect(await sc.stop()).toBe(0);
    }
  });

  it("falls back to node:http + undici when _http_common cannot be loaded, and serves", async () => {
    const { sc, inbound } = await startSidecar({
      LANECAR_DATA_PATH: "",
      NODE_OPTIONS: `--require ${NO_HTTP_COMMON}`,
    });
    try {
      expect(sc.stderr()).toMatch(
        /data path: node:http \+ undici fallback \(this Node \(v[\d.]+\) has no usable HTTP parser binding: _http_common cannot be loaded/,
      );
      for (let i = 0; i < 20; i++) {
        const r = await fetch(`${inbound}/x`, {
          method: i % 2 ? "POST" : "GET",
          body: i % 2 ? "b".repeat(i) : undefined,
        });
        expect(r.status).toBe(200);
        expect(r.headers.get("x-lanecar-flags")).toBeNull();
      }
      expect(app.received).toBeGreaterThanOrEqual(20);
    } finally {
      expect(await sc.stop()).toBe(0);
    }
  });

  it("LANECAR_DATA_PATH=node forces the fallback on a Node whose binding works", async () => {
    const { sc, inbound } = await startSidecar({ LANECAR_DATA_PATH: "node" });
    try {
      expect(sc.stderr()).toContain("data path: node:http + undici fallback (LANECAR_DATA_PATH=node)");
      expect((await fetch(`${inbound}/x`)).status).toBe(200);
    } finally {
      expect(await sc.stop()).toBe(0);
    }
  });

  it("LANECAR_DATA_PATH=h1 without a usable binding is a one-line error, exit 1", async () => {
    const r = await runFailing({ LANECAR_DATA_PATH: "h1", NODE_OPTIONS: `--require ${NO_HTTP_COMMON}` });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^lanecar sidecar: LANECAR_DATA_PATH=h1: this Node .* _http_common cannot be loaded/,
      ),
    ]);
  });

  it("an unknown LANECAR_DATA_PATH is a one-line error, exit 1", async () => {
    const r = await runFailing({ LANECAR_DATA_PATH: "fast" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      'lanecar sidecar: LANECAR_DATA_PATH: "fast" is not one of auto, h1, node',
    ]);
  });
});
