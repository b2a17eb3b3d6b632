/** The forwarding exchange against real sockets: streaming, retries, failures, client aborts. */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Endpoint } from "@lanecar/core";
import { afterEach, describe, expect, it } from "vitest";
import type { ListenerServer } from "../../src/http/downstream.js";
import { copyRequestHeaders } from "../../src/http/raw-headers.js";
import { createProxyServer } from "../../src/http/server.js";
import { Exchange, type ExchangeOwner } from "../../src/upstream/exchange.js";
import { UpstreamPools } from "../../src/upstream/pools.js";
import { retryPolicy } from "../../src/upstream/retry-policy.js";
import type { UpstreamHealth, UpstreamResult } from "../../src/upstream/upstream-health.js";

function ep(port: number): Endpoint {
  return {
    key: `127.0.0.1:${port}`,
    address: "127.0.0.1",
    port,
    labels: {},
    weight: 1,
    probe: undefined,
    origin: "test",
  };
}

class Owner implements ExchangeOwner {
  pools = new UpstreamPools();
  reports: [string, UpstreamResult][] = [];
  finished: [number, string][] = [];
  health: UpstreamHealth = {
    isAvailable: () => true,
    activeRequests: () => 0,
    begin: () => {},
    end: () => {},
    report: (e, _o, r) => {
      this.reports.push([e.key, r]);
    },
  };
  constructor(public targets: Endpoint[]) {}
  retarget(x: Exchange): boolean {
    const next = this.targets.find((t) => !x.tried.includes(t));
    if (!next) return false;
    x.ep = next;
    return true;
  }
  finish(_x: Exchange, status: number, flags: string): void {
    this.finished.push([status, flags]);
  }
}

const servers: Server[] = [];
const proxies: ListenerServer[] = [];
const owners: Owner[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.drain(100)));
  for (const o of owners.splice(0)) await o.pools.close();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((r) => {
          s.closeAllConnections();
          s.close(r);
        }),
    ),
  );
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return (s.address() as AddressInfo).port;
}

async function proxy(
  owner: Owner,
  retries = retryPolicy({ attempts: 2, retryOn: ["connect-failure", "retriable-status-codes", "reset"] }),
): Promise<number> {
  owners.push(owner);
  const s = createProxyServer((req) => {
    const headers = copyRequestHeaders(req.rawHeaders, undefined);
    headers.push("host", "upstream");
    const x = new Exchange(owner, req, req.method, req.url, headers, retries);
    x.ep = owner.targets[0]!;
    x.dispatch();
  });
  proxies.push(s);
  return (await s.listen("127.0.0.1", 0)).port;
}

async function closedPort(): Promise<number> {
  const p = await serve(() => {});
  const s = servers.pop()!;
  await new Promise((r) => s.close(r));
  return p;
}

describe("Exchange", () => {
  it("streams a response through with status and headers", async () => {
    const up = await serve((req, res) => {
      res.writeHead(201, { "x-up": "1", "content-type": "text/plain" });
      res.end(`hello ${req.headers.host}`);
    });
    const owner = new Owner([ep(up)]);
    const p = await proxy(owner);
    const r = await fetch(`http://127.0.0.1:${p}/x`);
    expect(r.status).toBe(201);
    expect(r.headers.get("x-up")).toBe("1");
    expect(await r.text()).toBe("hello upstream");
    expect(owner.finished).toEqual([[201, ""]]);
  });

  it("streams a request body upstream", async () => {
    const up = await serve((req, res) => {
      let n = 0;
      req.on("data", (c) => (n += c.length));
      req.on("end", () => res.end(String(n)));
    });
    const p = await proxy(new Owner([ep(up)]));
    const body = Buffer.alloc(1 << 20, 7);
    const r = await fetch(`http://127.0.0.1:${p}/`, { method: "POST", body });
    expect(await r.text()).toBe(String(1 << 20));
  });

  it("retries a GET on the next target when the connection is refused", async () => {
    const dead = await closedPort();
    const up = await serve((_req, res) => res.end("second"));
    const owner = new Owner([ep(dead), ep(up)]);
    const p = await proxy(owner);
    const r = await fetch(`http://127.0.0.1:${p}/`);
    expect(await r.text()).toBe("second");
    expect(owner.reports[0]).toEqual([`127.0.0.1:${dead}`, "connect-failure"]);
  });

  it("sends a GET refused after its retries are spent to a target it has not tried (the fallback)", async () => {
    // An instance going away answers 503 (its app is gone) and then refuses (its sidecar is
    // gone): the retry budget is spent on the 503, yet nothing of the last attempt was sent.
    const busy = await serve((_req, res) => {
      res.writeHead(503);
      res.end("app gone");
    });
    const dead = await closedPort();
    const fallback = await serve((_req, res) => res.end("fallback"));
    const owner = new Owner([ep(busy), ep(dead), ep(fallback)]);
    const p = await proxy(
      owner,
      retryPolicy({ attempts: 1, retryOn: ["connect-failure", "retriable-status-codes"] }),
    );
    const r = await fetch(`http://127.0.0.1:${p}/`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("fallback");
    expect(owner.finished).toEqual([[200, ""]]);
  });

  it("answers 503 UF when no target accepts the connection", async () => {
    const owner = new Owner([ep(await closedPort())]);
    const p = await proxy(owner);
    const r = await fetch(`http://127.0.0.1:${p}/`);
    expect(r.status).toBe(503);
    expect(r.headers.get("x-lanecar-flags")).toBe("UF");
    expect(owner.finished).toEqual([[503, "UF"]]);
  });

  it("retries a retriable 503 and discards its body", async () => {
    const a = await serve((_req, res) => {
      res.writeHead(503);
      res.end("busy");
    });
    const b = await serve((_req, res) => res.end("ok"));
    const p = await proxy(new Owner([ep(a), ep(b)]));
    const r = await fetch(`http://127.0.0.1:${p}/`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok");
  });

  it("never replays a POST whose upstream reset the connection", async () => {
    let hits = 0;
    const a = await serve((req) => {
      hits++;
      req.socket.destroy();
    });
    const b = await serve((_req, res) => {
      hits++;
      res.end("b");
    });
    const p = await proxy(new Owner([ep(a), ep(b)]));
    const r = await fetch(`http://127.0.0.1:${p}/`, { method: "POST", body: "x" });
    expect(r.status).toBe(503);
    expect(r.headers.get("x-lanecar-flags")).toBe("UC");
    expect(hits).toBe(1);
  });

  it("retries a GET reset before headers when retryOn has reset", async () => {
    const a = await serve((req) => req.socket.destroy());
    const b = await serve((_req, res) => res.end("b"));
    const p = await proxy(new Owner([ep(a), ep(b)]));
    const r = await fetch(`http://127.0.0.1:${p}/`);
    expect(await r.text()).toBe("b");
  });

  it("aborts the client connection when the upstream dies mid-body", async () => {
    const up = await serve((_req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const p = await proxy(new Owner([ep(up)]));
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ port: p, host: "127.0.0.1", path: "/" }, (res) => {
        res.on("data", () => {});
        res.on("end", () => resolve("complete"));
        res.on("error", () => resolve("aborted"));
        res.on("aborted", () => resolve("aborted"));
      });
      req.on("error", () => resolve("aborted"));
      req.end();
    });
    expect(outcome).toBe("aborted");
  });

  it("aborts the upstream request when the client goes away", async () => {
    let upstreamClosed = false;
    const up = await serve((req, res) => {
      res.writeHead(200);
      res.write("x");
      req.socket.on("close", () => (upstreamClosed = true));
    });
    const owner = new Owner([ep(up)]);
    const p = await proxy(owner);
    await new Promise<void>((resolve) => {
      const req = request({ port: p, host: "127.0.0.1", path: "/" }, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.end();
    });
    for (let i = 0; i < 50 && !upstreamClosed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(upstreamClosed).toBe(true);
    expect(owner.finished[0]).toEqual([499, "DC"]);
  });
});
