/**
 * Issue 3 acceptance, life cycle: a valid config change under steady load is applied with zero
 * failed requests; an invalid one is rejected, the old config keeps serving and /config_dump
 * shows the error; SIGTERM under load fails no in-flight request and exits 0 within the drain
 * timeout.
 */
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hop, path, startApp, type TestApp } from "../support/apps.js";
import { type Running, startLanecar } from "../support/lanecar.js";
import { eventually, sleep, startLoad } from "../support/load.js";
import { metric } from "../support/metrics.js";
import { freePorts } from "../support/ports.js";

function config(p1: number, p2: number, subset: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${p1}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: ${p2}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http: [{route: [{destination: {host: web, subset: ${subset}}}]}]
`;
}

/** Replaces a file atomically, as `kubectl` / ConfigMap volumes do. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe("config reload under load", () => {
  let sidecar: Running;
  const apps: TestApp[] = [];
  let file = "";
  let outbound = "";
  let admin = "";
  let p1 = 0;
  let p2 = 0;
  beforeAll(async () => {
    const ports = await freePorts(5);
    [p1, p2] = [ports[0]!, ports[1]!];
    apps.push(
      await startApp({ service: "web", version: "v1", port: p1 }),
      await startApp({ service: "web", version: "v2", port: p2 }),
    );
    const dir = mkdtempSync(join(tmpdir(), "lanecar-reload-"));
    file = join(dir, "web.yaml");
    writeFileSync(file, config(p1, p2, "v1"));
    outbound = `http://127.0.0.1:${ports[2]}/`;
    admin = `127.0.0.1:${ports[4]}`;
    sidecar = await startLanecar(
      [
        "sidecar",
        "--config",
        dir,
        "--service",
        "client",
        "--outbound",
        `127.0.0.1:${ports[2]}`,
        "--inbound",
        `127.0.0.1:${ports[3]}`,
      ],
      admin,
    );
  }, 30_000);
  afterAll(async () => {
    await sidecar?.stop();
    await Promise.all(apps.map((a) => a.close()));
  });

  const version = (body: string) => (JSON.parse(body) as { version: string }).version;

  it("applies a valid change with zero failed requests", async () => {
    const load = startLoad(outbound, { headers: { host: "web:9080" }, keepBodies: true, concurrency: 4 });
    await sleep(300);
    replace(file, config(p1, p2, "v2"));
    const switched = await eventually(
      () => load.result.bodies.length > 0 && version(load.result.bodies.at(-1)!) === "v2",
      5000,
    );
    await sleep(200);
    const r = await load.stop();
    expect(switched).toBe(true);
    expect(r.errors).toEqual([]);
    expect(r.sent).toBeGreaterThan(50);
    expect(new Set(r.bodies.map(version))).toEqual(new Set(["v1", "v2"]));
    expect(await metric(admin, "lanecar_config_reloads_total", { result: "success" })).toBeGreaterThanOrEqual(
      1,
    );
  });

  it("rejects an invalid change, keeps serving the last good config, and shows the error", async () => {
    const load = startLoad(outbound, { headers: { host: "web:9080" }, keepBodies: true, concurrency: 4 });
    replace(file, config(p1, p2, "v9"));
    const shown = await eventually(async () => {
      const dump = (await (await fetch(`http://${admin}/config_dump`)).json()) as {
        lastReloadError: { errors: string[] } | null;
      };
      return dump.lastReloadError?.errors.some((e) => e.includes('subset "v9" is not defined')) ?? false;
    }, 5000);
    await sleep(300);
    const r = await load.stop();
    expect(shown).toBe(true);
    expect(r.errors).toEqual([]);
    expect(new Set(r.bodies.map(version))).toEqual(new Set(["v2"]));
    expect(await metric(admin, "lanecar_config_reloads_total", { result: "error" })).toBeGreaterThanOrEqual(
      1,
    );
    expect(sidecar.stderr()).toContain('subset "v9" is not defined');
  });
});

describe("SIGTERM under load", () => {
  it("finishes every in-flight request and exits 0 within the drain timeout", async () => {
    const [p, listen, admin] = await freePorts(3);
    const app = await startApp({ service: "web", version: "v1", port: p!, delayMs: 300 });
    const dir = mkdtempSync(join(tmpdir(), "lanecar-drain-"));
    writeFileSync(
      join(dir, "c.yaml"),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: 9080, name: http}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${p}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http: [{route: [{destination: {host: web}}]}]
`,
    );
    const gw = await startLanecar(
      ["gateway", "--config", dir, "--listen", `127.0.0.1:${listen}`, "--drain-timeout", "3s"],
      `127.0.0.1:${admin}`,
    );
    const load = startLoad(`http://127.0.0.1:${listen}/`, { concurrency: 8 });
    await sleep(700);
    const started = Date.now();
    const code = await gw.stop("SIGTERM");
    const took = Date.now() - started;
    const r = await load.stop();
    await app.close();
    expect(code).toBe(0);
    expect(took).toBeLessThan(3000 + 1000);
    expect(r.ok).toBeGreaterThan(8);
    // Every request that reached the gateway got its full response: nothing but 200s, and the
    // only failures are new connections refused after the listener closed (ECONNREFUSED, not a
    // reset or a connection closed under a request).
    expect([...r.statuses.keys()]).toEqual([200]);
    expect(r.errors.filter((e) => !/^connect ECONNREFUSED /.test(e))).toEqual([]);
  }, 20_000);
});

describe("SIGTERM while the app still has outbound calls to make", () => {
  // Issue 11 item 4: as Istio, only inbound drains; the outbound listener keeps serving the
  // calls in-flight inbound work makes, then everything closes and the process exits 0.
  it("the in-flight request's outbound call succeeds, inbound refuses new connections, exit 0", async () => {
    const [frontPort, webPort, inbound, outbound, admin] = (await freePorts(5)) as number[];
    const web = await startApp({ service: "web", version: "v1", port: webPort! });
    const front = await startApp({
      service: "front",
      version: "v1",
      port: frontPort!,
      calls: ["web:9080"],
      proxy: `127.0.0.1:${outbound}`,
      delayMs: 1500,
    });
    const dir = mkdtempSync(join(tmpdir(), "lanecar-drain-out-"));
    writeFileSync(
      join(dir, "c.yaml"),
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: 9080, name: http}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${webPort}}}]
`,
    );
    const sc = await startLanecar(
      [
        "sidecar",
        ...["--config", dir, "--service", "front", "--app", `http://127.0.0.1:${frontPort}`],
        ...["--inbound", `127.0.0.1:${inbound}`, "--outbound", `127.0.0.1:${outbound}`],
        ...["--drain-timeout", "5s"],
      ],
      `127.0.0.1:${admin}`,
    );
    try {
      const answer = request(`http://127.0.0.1:${inbound}/`, { headers: { host: "front:9080" } }).then(
        async (r) => ({ status: r.statusCode, body: await r.body.text() }),
      );
      // Positive signal first: the request is in the app, which has not called web yet.
      expect(await eventually(() => front.received === 1, 5000, 10)).toBe(true);
      expect(web.received).toBe(0);
      const exited = sc.stop("SIGTERM");
      // Draining: inbound refuses new connections (ECONNREFUSED, nothing else).
      expect(await eventually(async () => (await connectError(inbound!)) === "ECONNREFUSED", 1000, 20)).toBe(
        true,
      );
      const r = await answer;
      expect(r.status).toBe(200);
      const hop = JSON.parse(r.body) as Hop;
      expect(path(hop)).toEqual(["front=v1", "web=v1"]);
      expect(web.received).toBe(1);
      expect(await exited).toBe(0);
      // Then everything is closed, outbound included.
      expect(await connectError(outbound!)).toBe("ECONNREFUSED");
    } finally {
      await sc.stop("SIGKILL");
      await front.close();
      await web.close();
    }
  }, 20_000);
});

/** The error code of a TCP connect to a loopback port, or "connected". */
function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}
