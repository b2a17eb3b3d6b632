/**
 * Route actions applied by a running sidecar (SPEC section 5), black-box through its outbound
 * listener: header operations, timeout, retries, fault delay and abort, mirror, rewrite,
 * redirect and directResponse, each with the status and `x-lanecar-flags` a user would see.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Running, startLanecar } from "../support/lanecar.js";
import { freePorts } from "../support/ports.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An upstream that records every request; `/slow` answers after 2 s, `/flaky` 503s twice first. */
function recordingUpstream(name: string, port: number): Promise<{ server: Server; seen: Seen[] }> {
  const seen: Seen[] = [];
  let flaky = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === "/slow") {
        setTimeout(() => res.end("late"), 2000).unref();
        return;
      }
      if (req.url === "/flaky" && flaky++ < 2) {
        res.writeHead(503).end("try again");
        return;
      }
      res.setHeader("x-up-secret", "s3cret");
      res.setHeader("x-served-by", name);
      res.end(`${name} ${req.method} ${req.url}`);
    });
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve({ server, seen })));
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** An app's outbound call through the sidecar, in origin form with `Host: web:9080`. */
function call(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Answer> {
  return callHost(port, "web:9080", path, headers, method);
}

function callHost(
  port: number,
  host: string,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers: { host, ...headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body, ms: performance.now() - t0 }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("route actions on a running sidecar", () => {
  let sidecar: Running;
  let outbound = 0;
  let web: { server: Server; seen: Seen[] };
  let shadow: { server: Server; seen: Seen[] };

  beforeAll(async () => {
    const [webPort, shadowPort, appPort, inbound, out, admin] = await freePorts(6);
    outbound = out!;
    web = await recordingUpstream("web", webPort!);
    shadow = await recordingUpstream("shadow", shadowPort!);
    const dir = mkdtempSync(join(tmpdir(), "lanecar-actions-"));
    const file = join(dir, "routes.yaml");
    writeFileSync(
      file,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${webPort}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shadow}
spec:
  hosts: [shadow]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${shadowPort}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: header-ops
    match: [{uri: {exact: /headers}}]
    headers:
      request: {set: {x-set: one}, add: {x-added: two}, remove: [x-drop]}
      response: {set: {x-resp: yes}, remove: [x-up-secret]}
    route: [{destination: {host: web}}]
  - name: timeout
    match: [{uri: {exact: /slow}}]
    timeout: 0.3s
    route: [{destination: {host: web}}]
  - name: retries
    match: [{uri: {exact: /flaky}}]
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: 5xx}
    route: [{destination: {host: web}}]
  - name: abort
    match: [{uri: {exact: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - name: delay
    match: [{uri: {exact: /delay}}]
    fault: {delay: {fixedDelay: 0.3s, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - name: mirror
    match: [{uri: {exact: /mirror}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 100}
    route: [{destination: {host: web}}]
  - name: rewrite
    match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/}
    route: [{destination: {host: web}}]
  - name: redirect
    match: [{uri: {exact: /moved}}]
    redirect: {uri: /elsewhere, redirectCode: 308}
  - name: direct
    match: [{uri: {exact: /maintenance}}]
    directResponse: {status: 503, body: {string: "down for maintenance"}}
  - name: default
    route: [{destination: {host: web}}]
`,
    );
    sidecar = await startLanecar(
      [
        "sidecar",
        "--config",
        file,
        "--service",
        "client",
        "--inbound",
        `127.0.0.1:${inbound}`,
        "--app",
        `http://127.0.0.1:${appPort}`,
        "--outbound",
        `127.0.0.1:${outbound}`,
      ],
      `127.0.0.1:${admin}`,
    );
  }, 30_000);

  afterAll(async () => {
    await sidecar?.stop();
    web?.server.close();
    shadow?.server.close();
  });

  const lastSeen = (path: string) => web.seen.filter((s) => s.url === path).at(-1);
  /**
   * Absence checks wait for a positive signal first: a forwarded request sent after the local
   * reply has reached the upstream, so a late forward of the answered one would have too.
   */
  const barrier = async (tag: string) => {
    const r = await call(outbound, `/old/barrier-${tag}`);
    expect(r.status).toBe(200);
    expect(lastSeen(`/new/barrier-${tag}`)).toBeDefined();
  };

  it("applies request and response header operations", async () => {
    const r = await call(outbound, "/headers", { "x-drop": "secret", "x-added": "zero", "x-keep": "k" });
    expect(r.status).toBe(200);
    const up = lastSeen("/headers")!;
    expect(up.headers["x-set"]).toBe("one");
    expect(up.headers["x-added"]).toBe("zero, two");
    expect(up.headers["x-drop"]).toBeUndefined();
    expect(up.headers["x-keep"]).toBe("k");
    expect(r.headers["x-resp"]).toBe("yes");
    expect(r.headers["x-up-secret"]).toBeUndefined();
    expect(r.headers["x-served-by"]).toBe("web");
  });

  it("answers 504 UT when the route's timeout passes", async () => {
    const r = await call(outbound, "/slow");
    expect(r.status).toBe(504);
    expect(r.headers["x-lanecar-flags"]).toBe("UT");
    expect(r.ms).toBeLessThan(1500);
  });

  it("retries a 503 as retryOn 5xx allows, and succeeds on the third try", async () => {
    const before = web.seen.filter((s) => s.url === "/flaky").length;
    const r = await call(outbound, "/flaky");
    expect(r.status).toBe(200);
    expect(web.seen.filter((s) => s.url === "/flaky").length - before).toBe(3);
  });

  it("retries a 503 on a host without a VirtualService (Istio's default policy: 2 attempts, 503)", async () => {
    const flaky = () => shadow.seen.filter((x) => x.url === "/flaky").length;
    const before = flaky();
    const r = await callHost(outbound, "shadow:9080", "/flaky");
    expect(r.status).toBe(200);
    expect(r.body).toBe("shadow GET /flaky");
    expect(flaky() - before).toBe(3);
  });

  it("aborts with the fault's status and flag FI, without calling the upstream", async () => {
    const r = await call(outbound, "/abort");
    expect(r.status).toBe(418);
    expect(r.headers["x-lanecar-flags"]).toBe("FI");
    await barrier("abort");
    expect(lastSeen("/abort")).toBeUndefined();
  });

  it("delays by the fault's fixedDelay, then forwards", async () => {
    const r = await call(outbound, "/delay");
    expect(r.status).toBe(200);
    expect(r.ms).toBeGreaterThanOrEqual(290);
    expect(lastSeen("/delay")).toBeDefined();
  });

  it("mirrors to the shadow host (Host with -shadow, as Istio) and answers from the primary", async () => {
    const r = await call(outbound, "/mirror", { "x-trace": "m1" });
    expect(r.status).toBe(200);
    expect(r.body).toBe("web GET /mirror");
    const until = Date.now() + 3000;
    while (!shadow.seen.some((s) => s.url === "/mirror") && Date.now() < until)
      await new Promise((res) => setTimeout(res, 20));
    const copy = shadow.seen.find((s) => s.url === "/mirror");
    expect(copy?.headers["x-trace"]).toBe("m1");
    expect(copy?.headers.host).toMatch(/-shadow/);
  });

  it("rewrites the path prefix", async () => {
    const r = await call(outbound, "/old/page?q=1");
    expect(r.body).toBe("web GET /new/page?q=1");
  });

  it("redirects with the configured code and Location, without calling the upstream", async () => {
    const r = await call(outbound, "/moved");
    expect(r.status).toBe(308);
    expect(r.headers.location).toMatch(/\/elsewhere$/);
    await barrier("moved");
    expect(lastSeen("/moved")).toBeUndefined();
  });

  it("answers a directResponse itself", async () => {
    const r = await call(outbound, "/maintenance");
    expect(r.status).toBe(503);
    expect(r.body).toBe("down for maintenance");
    await barrier("maintenance");
    expect(lastSeen("/maintenance")).toBeUndefined();
  });

  it("answers 404 NR for a host it does not know", async () => {
    const r = await call(outbound, "/", { host: "nowhere:9080" });
    expect(r.status).toBe(404);
    expect(r.headers["x-lanecar-flags"]).toBe("NR");
  });
});
