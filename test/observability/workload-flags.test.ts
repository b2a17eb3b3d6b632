/**
 * `--workload` / `LANECAR_WORKLOAD` and `--cluster` name this workload in Istio's labels; a value
 * that is not a label value is one clear line, and nothing starts.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../packages/cli/test/run.js";
import { startApp, type TestApp } from "../support/apps.js";
import { type Running, startLanecar } from "../support/lanecar.js";
import { metric } from "../support/metrics.js";
import { freePorts } from "../support/ports.js";

let app: TestApp;
let sidecar: Running;
let inbound: number;
let admin: string;
let config: string;

beforeAll(async () => {
  const [appPort, inPort, outPort, adminPort] = await freePorts(4);
  inbound = inPort!;
  admin = `127.0.0.1:${adminPort}`;
  config = join(mkdtempSync(join(tmpdir(), "lanecar-workload-")), "empty.yaml");
  writeFileSync(config, "# no routing needed: inbound only\n");
  app = await startApp({ service: "reviews", version: "v2", port: appPort! });
  sidecar = await startLanecar(
    [
      "sidecar",
      "--config",
      config,
      "--service",
      "reviews",
      "--pod-labels",
      "app=reviews,version=v2",
      "--cluster",
      "east",
      "--inbound",
      `127.0.0.1:${inbound}`,
      "--outbound",
      `127.0.0.1:${outPort}`,
      "--app",
      `http://127.0.0.1:${appPort}`,
    ],
    admin,
    { LANECAR_WORKLOAD: "reviews-canary" },
  );
}, 30_000);

afterAll(async () => {
  await sidecar?.stop();
  await app?.close();
});

describe("--workload and --cluster", () => {
  it("name this workload and its cluster in the metrics", async () => {
    const r = await fetch(`http://127.0.0.1:${inbound}/`);
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    expect(
      await metric(admin, "istio_requests_total", {
        reporter: "destination",
        destination_workload: "reviews-canary",
        destination_cluster: "east",
        destination_canonical_service: "reviews",
        destination_canonical_revision: "v2",
      }),
    ).toBe(1);
  });

  it("refuses a value that is not a label value, in one line", async () => {
    const r = await run(["sidecar", "--config", config, "--service", "reviews", "--workload", "no spaces"]);
    expect(r.code).not.toBe(0);
    expect(r.err.filter(Boolean)).toHaveLength(1);
    expect(r.err[0]).toMatch(/--workload "no spaces" is not a valid name/);
  });
});
