/**
 * Issue 12 item 2, black box: Istio's egress task (`tasks/egress-control__se-httpbin-ext` with its
 * 3 s timeout VirtualService, read from ../shared) through a real `lanecar sidecar`. The app calls
 * `http://httpbin.org/headers` through the sidecar; httpbin.org is resolved by DNS — a real dnsmasq
 * on loopback (`--dns-servers`) answering loopback addresses with a 1 s TTL — and when the answer
 * changes, new requests follow it. A `resolution: NONE` service forwards to the host the app asked
 * for, looked up by the system resolver (/etc/hosts).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Started, startSidecarProcess, writeConfig } from "../hardening/support/proxy.js";
import { type Dnsmasq, startDnsmasq } from "../support/dnsmasq.js";
import { LANECAR_BIN, type Running, startLanecar } from "../support/lanecar.js";
import { freePort, freePorts } from "../support/ports.js";

const TASKS = fileURLToPath(new URL("../../../shared/conformance/istio/tasks/", import.meta.url));
const task = (f: string) => readFileSync(`${TASKS}${f}.yaml`, "utf8");

/**
 * Loopback addresses of this run (127.X.Y.n, random X.Y): port 80 as the ServiceEntries say, on
 * addresses no other run (the fallback data-path project runs this file too) is using.
 */
const NET = `127.${64 + Math.floor(Math.random() * 128)}.${1 + Math.floor(Math.random() * 250)}`;
/** httpbin.org's two "addresses". */
const FIRST = `${NET}.1`;
const SECOND = `${NET}.2`;

interface Seen {
  name: string;
  host: string | undefined;
  url: string | undefined;
}

async function upstream(name: string, address: string, port: number, seen: Seen[]): Promise<Server> {
  const s = createServer((req, res) => {
    seen.push({ name, host: req.headers.host, url: req.url });
    res.setHeader("content-type", "text/plain");
    res.end(name);
  });
  await new Promise<void>((resolve, reject) => {
    s.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === "EACCES"
            ? `cannot listen on ${address}:${port}: port 80 needs root`
            : `${address}:${port}: ${e.message}`,
        ),
      ),
    );
    s.listen(port, address, () => resolve());
  });
  return s;
}

/** An absolute-form request through the sidecar's outbound listener, as an app with HTTP_PROXY sends it. */
function viaProxy(port: number, url: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      { host: "127.0.0.1", port, path: url, headers: { host: u.host }, agent: false },
      (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    r.on("error", reject);
    r.end();
  });
}

describe("Istio's egress task through a sidecar: resolution DNS and NONE (issue 12 item 2)", () => {
  let ns: Dnsmasq;
  let sc: Started;
  const servers: Server[] = [];
  const seen: Seen[] = [];
  let localPort = 0;

  beforeAll(async () => {
    localPort = await freePort();
    servers.push(
      await upstream("first", FIRST, 80, seen),
      await upstream("second", SECOND, 80, seen),
      await upstream("local", "127.0.0.1", localPort, seen),
    );
    ns = await startDnsmasq({ "httpbin.org": [FIRST] });
    sc = await startSidecarProcess({
      appPort: localPort,
      args: ["--dns-servers", ns.server],
      yaml: [
        task("egress-control__se-httpbin-ext"),
        task("egress-control__vs-httpbin-ext-timeout"),
        `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: local-none}
spec:
  hosts: [localhost]
  ports: [{number: ${localPort}, name: http, protocol: HTTP}]
  resolution: NONE
  location: MESH_EXTERNAL`,
      ],
    });
  });
  afterAll(async () => {
    await sc?.stop();
    await ns?.stop();
    for (const s of servers) s.close();
  });

  it("http://httpbin.org/headers is forwarded to httpbin.org as DNS answers it", async () => {
    const r = await viaProxy(sc.outbound, "http://httpbin.org/headers");
    expect(r).toEqual({ status: 200, body: "first" });
    expect(seen.at(-1)).toEqual({ name: "first", host: "httpbin.org", url: "/headers" });
  });

  it("when the DNS answer changes, requests follow it after the TTL (kept-alive connections retired)", async () => {
    expect((await viaProxy(sc.outbound, "http://httpbin.org/headers")).body).toBe("first");
    await ns.set({ "httpbin.org": [SECOND] });
    const until = Date.now() + 15_000;
    let body = "";
    while (Date.now() < until) {
      body = (await viaProxy(sc.outbound, "http://httpbin.org/headers")).body;
      if (body === "second") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toBe("second");
    // From then on every request goes to the new address, none to a stale connection.
    for (let i = 0; i < 10; i++)
      expect((await viaProxy(sc.outbound, "http://httpbin.org/headers")).body).toBe("second");
  });

  it("resolution NONE forwards to the host the app asked for (system resolver, /etc/hosts)", async () => {
    const r = await viaProxy(sc.outbound, `http://localhost:${localPort}/x`);
    expect(r).toEqual({ status: 200, body: "local" });
    expect(seen.at(-1)).toMatchObject({ name: "local", url: "/x" });
  });
});

describe("Istio's egress gateway task: the mesh routes edition.cnn.com through a Lanecar egress gateway (issue 12 item 2)", () => {
  /** The egress gateway listens where Istio's would: port 80 (its Gateway server port). */
  const GATEWAY = `${NET}.9`;
  const CNN = `${NET}.3`;
  let ns: Dnsmasq;
  let sc: Started;
  let gw: Running;
  let cnn: Server;
  const seen: Seen[] = [];

  beforeAll(async () => {
    cnn = await upstream("cnn", CNN, 80, seen);
    ns = await startDnsmasq({ "edition.cnn.com": [CNN] });
    const files = [
      task("egress-gateway__se-cnn"),
      task("egress-gateway__gw-dr-http"),
      task("egress-gateway__vs-direct-cnn"),
      // Outside Kubernetes, the egress gateway's Service is a ServiceEntry.
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  hosts: [istio-egressgateway.istio-system.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: ${GATEWAY}}]`,
    ];
    const { configPath } = writeConfig(files);
    const [admin, app] = await freePorts(2);
    gw = await startLanecar(
      [
        "gateway",
        "--config",
        configPath,
        "--gateway",
        "istio-egressgateway",
        "--pod-labels",
        "istio=egressgateway",
        "--listen",
        `${GATEWAY}:80`,
        "--dns-servers",
        ns.server,
        "--access-log",
      ],
      `127.0.0.1:${admin}`,
    );
    sc = await startSidecarProcess({ appPort: app!, yaml: files, args: ["--dns-servers", ns.server] });
  });
  afterAll(async () => {
    await sc?.stop();
    await gw?.stop("SIGKILL");
    await ns?.stop();
    cnn?.close();
  });

  it("http://edition.cnn.com/politics: sidecar → egress gateway → edition.cnn.com as DNS answers it", async () => {
    const r = await viaProxy(sc.outbound, "http://edition.cnn.com/politics");
    expect(r).toEqual({ status: 200, body: "cnn" });
    expect(seen.at(-1)).toEqual({ name: "cnn", host: "edition.cnn.com", url: "/politics" });
    // The gateway served it (its access log is written in batches).
    const until = Date.now() + 10_000;
    while (!gw.stdout().includes('"GET /politics HTTP/1.1" 200') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    expect(gw.stdout()).toMatch(
      /"GET \/politics HTTP\/1\.1" 200 .*dest=edition\.cnn\.com .*upstream=edition\.cnn\.com:80/,
    );
  });
});

describe("--dns-servers", () => {
  it.each(["nope:53", "127.0.0.1:99999", "127.0.0.1:53,dns.google"])("rejects %j in one line", (v) => {
    const r = spawnSync(
      process.execPath,
      [
        LANECAR_BIN,
        "sidecar",
        "--config",
        `${TASKS}egress-control__se-httpbin-ext.yaml`,
        "--service",
        "a",
        "--dns-servers",
        v,
      ],
      { encoding: "utf8", timeout: 15_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/--dns-servers ".*" is not an IP address with an optional :port/);
  });
});
