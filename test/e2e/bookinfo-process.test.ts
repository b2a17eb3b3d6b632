/**
 * Bookinfo with traffic lanes, process mode: every instance is an app plus its own `lanecar
 * sidecar`, the gateway in front, all real processes on loopback (free ports, so a running
 * `pnpm demo` does not collide). Walks the ASM story of tour-steps.ts exactly as `pnpm demo:tour`
 * does and asserts every hop for every kind of user, then the full demo: jason, the dev lane, the
 * product page, and the gateway's weighted, sticky share of new visitors. All of it with mutual
 * TLS on, as `pnpm demo` runs (STRICT: a plaintext request to a sidecar is refused, every sidecar
 * and the gateway present their SPIFFE identity, and the wire between gateway and productpage
 * carries TLS records only, seen by a relay).
 */
import { existsSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceConfigYaml } from "../../examples/bookinfo/src/demo/instance-config.js";
import { BookinfoRunner } from "../../examples/bookinfo/src/demo/runner.js";
import { applyStep, askLanes, awaitStep, formatLanes } from "../../examples/bookinfo/src/demo/tour.js";
import { TOUR } from "../../examples/bookinfo/src/demo/tour-steps.js";
import { GATEWAY, INSTANCES, spiffeIdOf } from "../../examples/bookinfo/src/topology.js";

/**
 * Mutual TLS runs on Lanecar's codec only (the node:http fallback refuses it rather than serve
 * plaintext), so the fallback-data-path project walks the same tour as `pnpm demo --no-mtls`.
 */
const MTLS = process.env.LANECAR_DATA_PATH !== "node";

let runner: BookinfoRunner;

beforeAll(async () => {
  runner = await BookinfoRunner.create({ ports: "free", mtls: MTLS });
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
      expect(a.status, a.body).toBe(200);
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

interface CertStatus {
  spiffeId: string;
  inboundMode: string;
  accepted: { tls: number; plaintext: number; refused: number };
}

async function certOf(admin: string): Promise<CertStatus> {
  const dump = await (await fetch(`http://${admin}/config_dump`)).text();
  expect(dump).not.toContain("PRIVATE KEY");
  return (JSON.parse(dump) as { workloadCertificate: CertStatus }).workloadCertificate;
}

/** Sends a plaintext GET on a fresh connection; resolves with whatever came back before the close. */
function plaintextGet(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    let out = "";
    s.on("connect", () => s.write("GET /health HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n"));
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(out));
  });
}

/** A TCP relay to 127.0.0.1:`to` recording both directions of every connection. */
async function relay(to: number) {
  const conns: { up: Buffer[]; down: Buffer[] }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const c = { up: [] as Buffer[], down: [] as Buffer[] };
    conns.push(c);
    const upstream = net.connect({ port: to, host: "127.0.0.1" });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (d) => {
      c.up.push(d);
      upstream.write(d);
    });
    upstream.on("data", (d) => {
      c.down.push(d);
      client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    conns,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/**
 * The content types of the TLS records in `stream` (RFC 8446 5.1: type, version 0x03xx, length);
 * throws at the first byte that does not start a record. A record cut off at the end is allowed.
 */
function tlsRecordTypes(stream: Buffer): number[] {
  const types: number[] = [];
  let at = 0;
  while (at + 5 <= stream.length) {
    const type = stream[at]!;
    if (type < 20 || type > 23 || stream[at + 1] !== 3) throw new Error(`not a TLS record at byte ${at}`);
    types.push(type);
    at += 5 + stream.readUInt16BE(at + 3);
  }
  return types;
}

/** The fallback data path cannot do TLS: there the demo runs as `--no-mtls` does, in plaintext. */
// Registered by data path (not skipped): each project runs the describe for the demo it started.
const onFallback = MTLS ? () => {} : describe;
const withMtls = MTLS ? describe : () => {};

onFallback("Bookinfo lanes demo, process mode on the fallback data path: --no-mtls", () => {
  it("runs no identity, and a sidecar serves plaintext (no PeerAuthentication, tls DISABLE)", async () => {
    expect(runner.identities).toBeUndefined();
    const p = runner.portsOf("reviews-v1");
    const dump = JSON.parse(await (await fetch(`http://127.0.0.1:${p.admin}/config_dump`)).text());
    expect(dump.workloadCertificate).toBeNull();
    expect(await plaintextGet(p.inbound)).toMatch(/^HTTP\/1\.1 200 /);
  });
});

withMtls("Bookinfo lanes demo, process mode: mutual TLS (STRICT) between every proxy", () => {
  it("issued the identities quickly (node:crypto, in-process)", () => {
    expect(runner.identities?.spiffeIds.size).toBe(INSTANCES.length + 1);
    // Generous: 9 EC P-256 keys and certificates, on a loaded machine.
    expect(runner.identityMs).toBeLessThan(5_000);
  });

  it("every sidecar presents its service account's SPIFFE ID, the gateway Istio's ingress gateway's", async () => {
    for (const i of INSTANCES) {
      const cert = await certOf(`127.0.0.1:${runner.portsOf(i.name).admin}`);
      expect(cert.spiffeId, i.name).toBe(spiffeIdOf(i));
      expect(cert.inboundMode, i.name).toBe("STRICT");
    }
    expect(spiffeIdOf(INSTANCES.find((i) => i.name === "reviews-v2")!)).toBe(
      "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
    );
    expect((await certOf(runner.gatewayAdmin)).spiffeId).toBe(
      `spiffe://cluster.local/ns/${GATEWAY.identity.namespace}/sa/${GATEWAY.identity.serviceAccount}`,
    );
  });

  it("the tour's traffic (requests and probes) was mutual TLS: no sidecar served plaintext", async () => {
    for (const i of INSTANCES) {
      const { accepted } = await certOf(`127.0.0.1:${runner.portsOf(i.name).admin}`);
      expect(accepted.tls, i.name).toBeGreaterThan(0);
      expect(accepted.plaintext, i.name).toBe(0);
    }
  });

  it("a plaintext request straight to a sidecar's inbound port is refused (no response)", async () => {
    for (const name of ["productpage-v1", "reviews-v2", "ratings-v1"]) {
      const p = runner.portsOf(name);
      const before = (await certOf(`127.0.0.1:${p.admin}`)).accepted.refused;
      expect(await plaintextGet(p.inbound), name).toBe("");
      expect((await certOf(`127.0.0.1:${p.admin}`)).accepted.refused, name).toBe(before + 1);
    }
    // The same request through the gateway is served: the gateway speaks mTLS into the mesh.
    expect((await askLanes(runner.gatewayUrl, { cookie: "lane=prod" })).status).toBe(200);
  });

  it("between the gateway and productpage the wire carries TLS records only", async () => {
    const i = INSTANCES.find((x) => x.name === "productpage-v1")!;
    const file = join(runner.config.at(-1)!, `${i.name}.yaml`); // free ports: the generated instances
    expect(existsSync(file), file).toBe(true);
    const ports = runner.portsOf(i.name);
    const r = await relay(ports.inbound);
    try {
      // productpage-v1's endpoint (and its probe) now goes through the relay; the config is watched.
      writeFileSync(file, instanceConfigYaml(i, { ...ports, inbound: r.port }));
      const until = Date.now() + 20_000;
      for (;;) {
        const a = await askLanes(runner.gatewayUrl, { cookie: "lane=prod" });
        if (a.status === 200 && r.conns.some((c) => c.up.length > 0 && c.down.length > 0)) break;
        if (Date.now() > until) throw new Error(`no request went through the relay: ${a.status} ${a.body}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      for (let k = 0; k < 5; k++)
        expect((await askLanes(runner.gatewayUrl, { cookie: "lane=prod" })).lanes?.productpage).toBe("v1");
      let withData = 0;
      for (const c of r.conns) {
        const up = Buffer.concat(c.up);
        const down = Buffer.concat(c.down);
        if (up.length === 0) continue;
        expect(up[0]).toBe(0x16); // a TLS handshake first, then nothing but TLS records
        const types = tlsRecordTypes(up);
        if (down.length > 0) expect(tlsRecordTypes(down)[0]).toBe(22);
        if (types.includes(23)) withData++;
        for (const text of ["HTTP/1.1", "/api/v1/lanes", "x-asm-prefer-tag", "/health"])
          expect(Buffer.concat([up, down]).includes(text), text).toBe(false);
      }
      // Requests (and probes) went through as encrypted application data.
      expect(withData).toBeGreaterThan(0);
    } finally {
      writeFileSync(file, instanceConfigYaml(i, ports));
      r.close();
    }
  }, 60_000);
});
