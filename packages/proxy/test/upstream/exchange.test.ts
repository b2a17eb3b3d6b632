/**
 * The forwarding exchange on the real path: a ProxyProcess's outbound RoutedListener, its
 * HealthState and upstream pools, against loopback upstreams. Streaming, retries (decided on what
 * was actually sent), route timeouts, failures and client aborts.
 */
import { request as httpRequest } from "node:http";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import {
  call,
  closedPort,
  completeBody,
  destinationRule,
  rawClient,
  responseStatus,
  serviceEntry,
  sleep,
  stoppedAfterEach,
  type Upstream,
  type UpstreamHandler,
  virtualService,
  waitFor,
} from "./harness.js";

const { up, start } = stoppedAfterEach();

const key = (port: number) => `127.0.0.1:${port}`;

/** Echoes the request body (or `ok` when empty) with 200. */
const echo: UpstreamHandler = (req, res) => {
  let body = "";
  req.on("data", (c: Buffer) => (body += c.toString()));
  req.on("end", () => res.end(body || "ok"));
};

/** The first request any of them sees gets `first`; every later one `rest`. */
function firstThen(first: UpstreamHandler, rest: UpstreamHandler): UpstreamHandler {
  let seen = false;
  return (req, res) => {
    if (seen) return rest(req, res);
    seen = true;
    first(req, res);
  };
}

const allRequests = (us: Upstream[]) => us.flatMap((u) => u.requests);

describe("Exchange on the routed listener", () => {
  it("streams a response through with status and headers, and a 1 MiB request body upstream", async () => {
    const u = await up((req, res) => {
      if (req.method === "GET") {
        res.writeHead(201, { "x-up": "1", "content-type": "text/plain" });
        res.end(`hello ${req.headers.host}`);
        return;
      }
      let n = 0;
      req.on("data", (c: Buffer) => (n += c.length));
      req.on("end", () => res.end(String(n)));
    });
    const s = await start([serviceEntry("svc", [{ port: u.port }])]);
    const r = await request(`http://127.0.0.1:${s.port}/x`, { headers: { host: "svc:9080" } });
    expect(r.statusCode).toBe(201);
    expect(r.headers["x-up"]).toBe("1");
    expect(await r.body.text()).toBe("hello svc:9080");
    const p = await call(s.port, "svc", "POST", "7".repeat(1 << 20));
    expect(p.text).toBe(String(1 << 20));
    expect(s.health.describe(key(u.port)).active).toBe(0);
  });

  it("a POST whose first connection is refused goes, whole, to the next instance", async () => {
    const dead = await closedPort();
    const u = await up(echo);
    const s = await start([
      serviceEntry("svc", [{ port: dead }, { port: u.port }]),
      virtualService("svc", ""),
    ]);
    for (let i = 0; i < 4; i++) {
      expect(await call(s.port, "svc", "POST", `body-${i}`)).toMatchObject({
        status: 200,
        text: `body-${i}`,
      });
    }
    expect(s.health.describe(key(dead)).reason).toBe("connect-failure");
    expect(u.requests.map((q) => q.body)).toEqual(["body-0", "body-1", "body-2", "body-3"]);
  });

  it("a GET refused after its retries were spent on a 503 goes on to the fallback lane (untried target)", async () => {
    // gray: an instance going away answers 503 (its app is gone, ejected for it), the other
    // refuses (its sidecar is gone). The retry budget is spent on the 503; nothing of the last
    // attempt was sent, so the GET goes to the fallback target it has not tried.
    const busy = await up((_req, res) => {
      res.writeHead(503);
      res.end("app gone");
    });
    const dead = await closedPort();
    const prod = await up((_req, res) => res.end("prod"));
    const lane = (port: number, tag: string) => ({ port, labels: { app: "svc", ASM_TRAFFIC_TAG: tag } });
    const s = await start([
      serviceEntry("svc", [lane(busy.port, "gray"), lane(dead, "gray"), lane(prod.port, "prod")]),
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc}
spec:
  host: svc
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100, baseEjectionTime: 60s}}
  subsets:
  - {name: prod, labels: {ASM_TRAFFIC_TAG: prod}}
  - {name: gray, labels: {ASM_TRAFFIC_TAG: gray}}`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - route:
    - destination: {host: svc, subset: gray}
      fallback: {case: noavailabled, target: {host: svc, subset: prod}}
    retries: {attempts: 1, retryOn: "connect-failure,retriable-status-codes"}`,
    ]);
    expect(await call(s.port, "svc")).toMatchObject({ status: 200, text: "prod" });
    expect(busy.requests).toHaveLength(1);
    // Both gray instances are out: the 503 ejected one, the other refused (and was ejected too).
    expect(s.health.downKeys().sort()).toEqual([key(busy.port), key(dead)].sort());
  });

  it("answers 503 UF when no instance accepts the connection", async () => {
    const s = await start([serviceEntry("svc", [{ port: await closedPort() }])]);
    expect(await call(s.port, "svc")).toMatchObject({ status: 503, flags: "UF" });
  });

  it("retries a retriable 503 on another instance and discards its body", async () => {
    const h = firstThen((_q, res) => {
      res.writeHead(503);
      res.end("busy");
    }, echo);
    const a = await up(h);
    const b = await up(h);
    const s = await start([
      serviceEntry("svc", [{ port: a.port }, { port: b.port }]),
      virtualService("svc", ""),
    ]);
    expect(await call(s.port, "svc")).toMatchObject({ status: 200, text: "ok" });
    expect(allRequests([a, b])).toHaveLength(2);
    // Both attempts were reported: the 503 counts against its instance.
    const failures = [a, b].map((u) => s.health.describe(key(u.port)).consecutiveFailures).sort();
    expect(failures).toEqual([0, 1]);
  });

  it("a 503 answered while the body is still coming: the retry carries the whole body", async () => {
    // The first attempt's upstream answers 503 at once, before any body byte, and ends that
    // response only when body bytes reach it (or after 2 s).
    const h = firstThen((req, res) => {
      res.writeHead(503, { "content-length": "4" });
      res.write("bu");
      const finish = () => res.end("sy");
      req.once("data", finish);
      setTimeout(finish, 2000).unref();
    }, echo);
    const a = await up(h);
    const b = await up(h);
    const s = await start([
      serviceEntry("svc", [{ port: a.port }, { port: b.port }]),
      virtualService("svc", ""),
    ]);
    const c = await rawClient(s.port);
    c.socket.write("POST /upload HTTP/1.1\r\nhost: svc:9080\r\ntransfer-encoding: chunked\r\n\r\n");
    await waitFor(() => allRequests([a, b]).length >= 1, 5000, "the first attempt");
    await sleep(100);
    c.socket.write("5\r\npart1\r\n");
    await sleep(100);
    c.socket.write("5\r\npart2\r\n0\r\n\r\n");
    const data = await c.until((d) => completeBody(d) !== undefined);
    c.socket.destroy();
    expect(responseStatus(data)).toBe(200);
    expect(completeBody(data)).toBe("part1part2");
    const reqs = allRequests([a, b]);
    expect(reqs).toHaveLength(2);
    // The 503 attempt got no body byte; the retry got all of it, complete.
    expect(reqs[0]!.body).toBe("");
    expect(reqs[1]!).toMatchObject({ body: "part1part2", complete: true });
  });

  it("a 503 after part of the body was sent is not retried: the client gets that 503", async () => {
    // The first attempt reads part1, then answers 503 while part2 has not been sent yet.
    const h = firstThen((req, res) => {
      req.once("data", () => {
        res.writeHead(503, { "content-length": "4" });
        res.end("busy");
      });
    }, echo);
    const a = await up(h);
    const b = await up(h);
    const s = await start([
      serviceEntry("svc", [{ port: a.port }, { port: b.port }]),
      virtualService("svc", ""),
    ]);
    const c = await rawClient(s.port);
    c.socket.write(
      "POST /upload HTTP/1.1\r\nhost: svc:9080\r\ntransfer-encoding: chunked\r\n\r\n5\r\npart1\r\n",
    );
    const data = await c.until((d) => completeBody(d) !== undefined);
    c.socket.write("5\r\npart2\r\n0\r\n\r\n");
    expect(responseStatus(data)).toBe(503);
    expect(completeBody(data)).toBe("busy");
    // Whatever the proxy does next, no second attempt is made; wait long enough for one to show.
    await sleep(300);
    c.socket.destroy();
    const reqs = allRequests([a, b]);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]!.body).toBe("part1");
  });

  it("never replays a POST whose upstream reset the connection", async () => {
    const h = firstThen((req) => req.socket.destroy(), echo);
    const a = await up(h);
    const b = await up(h);
    const s = await start([
      serviceEntry("svc", [{ port: a.port }, { port: b.port }]),
      virtualService("svc", "    retries: {attempts: 2, retryOn: reset}"),
    ]);
    expect(await call(s.port, "svc", "POST", "x")).toMatchObject({ status: 503, flags: "UC" });
    expect(allRequests([a, b])).toHaveLength(1);
    // A GET reset the same way is retried on the other instance.
    const h2 = firstThen((req) => req.socket.destroy(), echo);
    const c = await up(h2);
    const d = await up(h2);
    const s2 = await start([
      serviceEntry("svc", [{ port: c.port }, { port: d.port }]),
      virtualService("svc", "    retries: {attempts: 2, retryOn: reset}"),
    ]);
    expect((await call(s2.port, "svc")).status).toBe(200);
    expect(allRequests([c, d])).toHaveLength(2);
  });

  it("a route timeout ends the request: 504 UT, no other attempt, nothing reported to health", async () => {
    // The first request hangs; any later one would be answered at once.
    let hungClosed = false;
    const h = firstThen((req) => req.socket.on("close", () => (hungClosed = true)), echo);
    const a = await up(h);
    const b = await up(h);
    const s = await start([
      serviceEntry("svc", [{ port: a.port }, { port: b.port }]),
      virtualService(
        "svc",
        '    timeout: 300ms\n    retries: {attempts: 3, retryOn: "5xx,reset,connect-failure"}',
      ),
      destinationRule(
        "svc",
        "{outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100, baseEjectionTime: 60s}}",
      ),
    ]);
    const t = performance.now();
    const r = await call(s.port, "svc");
    const ms = performance.now() - t;
    expect(r).toMatchObject({ status: 504, flags: "UT" });
    expect(ms).toBeGreaterThanOrEqual(290);
    // The hung attempt's connection is closed by the proxy.
    await waitFor(() => hungClosed, 5000, "the timed-out attempt to be closed");
    // Another attempt would have started right after the timeout: give it ample time to show.
    await sleep(Math.max(500, ms));
    expect(allRequests([a, b])).toHaveLength(1);
    for (const u of [a, b]) {
      expect(s.health.describe(key(u.port))).toMatchObject({
        healthy: true,
        consecutiveFailures: 0,
        active: 0,
      });
    }
    expect(s.health.ejections).toBe(0);
    // And the instance that timed out still serves (it was neither ejected nor marked).
    expect((await call(s.port, "svc")).status).toBe(200);
  });

  it("aborts the client connection when the upstream dies mid-body", async () => {
    const u = await up((_req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const s = await start([serviceEntry("svc", [{ port: u.port }])]);
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(
        { port: s.port, host: "127.0.0.1", path: "/", headers: { host: "svc:9080" } },
        (res) => {
          res.on("data", () => {});
          res.on("end", () => resolve("complete"));
          res.on("error", () => resolve("aborted"));
          res.on("aborted", () => resolve("aborted"));
        },
      );
      req.on("error", () => resolve("aborted"));
      req.end();
    });
    expect(outcome).toBe("aborted");
  });

  it("aborts the upstream request when the client goes away, and does not count it against the instance", async () => {
    let upstreamClosed = false;
    const u = await up((req, res) => {
      res.writeHead(200);
      res.write("x");
      req.socket.on("close", () => (upstreamClosed = true));
    });
    const s = await start([
      serviceEntry("svc", [{ port: u.port }]),
      destinationRule("svc", "{outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100}}"),
    ]);
    await new Promise<void>((resolve) => {
      const req = httpRequest(
        { port: s.port, host: "127.0.0.1", path: "/", headers: { host: "svc:9080" } },
        (res) => {
          res.once("data", () => {
            // Gone for good (a reset): a FIN alone is a half-close, found gone at the next write.
            req.socket?.resetAndDestroy();
            resolve();
          });
        },
      );
      req.end();
    });
    await waitFor(() => upstreamClosed, 5000, "the upstream connection to close");
    await waitFor(() => s.health.describe(key(u.port)).active === 0, 5000, "the attempt to end");
    expect(s.health.describe(key(u.port))).toMatchObject({ healthy: true, consecutiveFailures: 0 });
  });
});
