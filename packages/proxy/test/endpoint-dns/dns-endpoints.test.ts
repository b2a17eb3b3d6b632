/**
 * Issue 12 item 2, the proxy side: ServiceEntry DNS names resolved through a real DNS server
 * (dnsmasq on a loopback port, answers with a 1 s TTL) and re-resolved when the answer changes;
 * /etc/hosts names through the system resolver (getaddrinfo); real connections through the lookup.
 */
import { promises as dns } from "node:dns";
import { createServer, connect as netConnect, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dnsmasq, startDnsmasq } from "../../../../test/support/dnsmasq.js";
import { DnsEndpoints, ServerDnsSource, SystemDnsSource } from "../../src/endpoint-dns/index.js";

/** Calls the lookup as net.connect does (with or without `all`). */
function lookupOnce(d: DnsEndpoints, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    d.lookup(name, { all: false }, (err, address) => (err ? reject(err) : resolve(address as string)));
  });
}

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("DNS endpoint names against dnsmasq (issue 12 item 2)", () => {
  let ns: Dnsmasq;
  beforeAll(async () => {
    ns = await startDnsmasq({
      "one.lanecar.test": ["127.0.0.11"],
      "two.lanecar.test": ["127.0.0.21", "127.0.0.22"],
    });
  });
  afterAll(async () => {
    await ns?.stop();
  });

  it("ServerDnsSource: the server's addresses and the record TTL", async () => {
    const a = await new ServerDnsSource([ns.server]).resolve("one.lanecar.test");
    expect(a.addresses).toEqual([{ address: "127.0.0.11", family: 4 }]);
    expect(a.ttlSec).toBe(1);
    await expect(new ServerDnsSource([ns.server]).resolve("nope.lanecar.test")).rejects.toMatchObject({
      code: expect.stringMatching(/^E/),
    });
  });

  it("DNS uses every address in turn; DNS_ROUND_ROBIN the first of the answer", async () => {
    const d = new DnsEndpoints({ source: new ServerDnsSource([ns.server]) });
    try {
      d.setNames(new Map([["two.lanecar.test", "DNS"]]));
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add(await lookupOnce(d, "two.lanecar.test"));
      expect([...seen].sort()).toEqual(["127.0.0.21", "127.0.0.22"]);
      d.setNames(new Map([["two.lanecar.test", "DNS_ROUND_ROBIN"]]));
      const first = d.addresses("two.lanecar.test")[0]!.address;
      for (let i = 0; i < 3; i++) expect(await lookupOnce(d, "two.lanecar.test")).toBe(first);
    } finally {
      d.stop();
    }
  });

  it("re-resolves on the TTL: a changed answer is used and reported", async () => {
    const changed: string[] = [];
    const d = new DnsEndpoints({
      source: new ServerDnsSource([ns.server]),
      onChange: (n) => changed.push(n),
      minRefreshMs: 100,
    });
    try {
      d.setNames(new Map([["one.lanecar.test", "DNS"]]));
      expect(await lookupOnce(d, "one.lanecar.test")).toBe("127.0.0.11");
      const before = d.resolutions("one.lanecar.test");
      await ns.set({ "one.lanecar.test": ["127.0.0.12"], "two.lanecar.test": ["127.0.0.21", "127.0.0.22"] });
      const got = await eventually(
        () => lookupOnce(d, "one.lanecar.test"),
        (a) => a === "127.0.0.12",
      );
      expect(got).toBe("127.0.0.12");
      expect(changed).toEqual(["one.lanecar.test"]);
      // The TTL (1 s) drove it: a handful of refreshes, not a tight loop.
      const refreshes = d.resolutions("one.lanecar.test") - before;
      expect(refreshes).toBeGreaterThanOrEqual(1);
      expect(refreshes).toBeLessThan(30);
    } finally {
      d.stop();
    }
  });

  it("a dead server keeps the last good answer (as Envoy)", async () => {
    const own = await startDnsmasq({ "kept.lanecar.test": ["127.0.0.31"] });
    const d = new DnsEndpoints({ source: new ServerDnsSource([own.server]), minRefreshMs: 100 });
    try {
      d.setNames(new Map([["kept.lanecar.test", "DNS"]]));
      expect(await lookupOnce(d, "kept.lanecar.test")).toBe("127.0.0.31");
      const before = d.resolutions("kept.lanecar.test");
      await own.stop();
      // Past the TTL and at least one failed refresh: still the last answer.
      await eventually(
        async () => d.resolutions("kept.lanecar.test"),
        (n) => n > before,
      );
      expect(d.resolutions("kept.lanecar.test")).toBeGreaterThan(before);
      expect(await lookupOnce(d, "kept.lanecar.test")).toBe("127.0.0.31");
    } finally {
      d.stop();
      await own.stop();
    }
  });

  it("a name with no answer fails the connection with the resolver's code; untracked names use dns.lookup", async () => {
    const d = new DnsEndpoints({ source: new ServerDnsSource([ns.server]) });
    try {
      d.setNames(new Map([["missing.lanecar.test", "DNS"]]));
      await expect(lookupOnce(d, "missing.lanecar.test")).rejects.toMatchObject({
        code: expect.stringMatching(/^E/),
      });
      expect(["127.0.0.1", "::1"]).toContain(await lookupOnce(d, "localhost"));
    } finally {
      d.stop();
    }
  });

  it("a real connection through the lookup reaches the resolved address", async () => {
    const server: Server = createServer((s) => s.end("hello"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.11", () => r()));
    const port = (server.address() as { port: number }).port;
    const d = new DnsEndpoints({ source: new ServerDnsSource([ns.server]) });
    try {
      await ns.set({ "one.lanecar.test": ["127.0.0.11"] });
      d.setNames(new Map([["one.lanecar.test", "DNS"]]));
      const text = await new Promise<string>((resolve, reject) => {
        const s = netConnect({ host: "one.lanecar.test", port, lookup: d.lookup });
        let out = "";
        s.on("data", (c) => {
          out += c;
        });
        s.on("end", () => resolve(out));
        s.on("error", reject);
      });
      expect(text).toBe("hello");
    } finally {
      d.stop();
      server.close();
    }
  });
});

describe("the system resolver (issue 12 item 2)", () => {
  it("an /etc/hosts name resolves through getaddrinfo, without a DNS TTL", async () => {
    const want = (await dns.lookup("localhost", { all: true })).map((a) => a.address);
    const a = await new SystemDnsSource().resolve("localhost");
    expect(a.addresses.map((x) => x.address)).toEqual(want);
    expect(a.ttlSec).toBeUndefined();
    const d = new DnsEndpoints({ source: new SystemDnsSource() });
    try {
      d.setNames(new Map([["localhost", "DNS_ROUND_ROBIN"]]));
      expect(await lookupOnce(d, "localhost")).toBe(want[0]);
    } finally {
      d.stop();
    }
  });
});
