/**
 * Issue 15 items 4 and 6: AuthorizationPolicy enforced on a sidecar's inbound, with real mutual
 * TLS on loopback between sidecars. Two client sidecars (identities productpage and ratings)
 * call the reviews sidecar through their outbound listeners over ISTIO_MUTUAL; a policy allows
 * the productpage principal only. productpage gets the app's 200; ratings gets `403 RBAC: access
 * denied`, flag RBAC in the access log, counted in istio_requests_total with its principal and
 * `connection_security_policy="mutual_tls"`; the app never sees ratings' request. Plaintext
 * has no principal; a reload swaps the policy (compiled per snapshot); a denied body is discarded.
 * A `lanecar sidecar` process enforces ipBlocks and methods on plaintext on both data paths.
 */
import { writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ProxyProcess } from "../../packages/proxy/src/process/proxy-process.js";
import { startSidecar } from "../../packages/proxy/src/process/sidecar.js";
import { startLanecar } from "../support/lanecar.js";
import {
  Identities,
  type RecordingApp,
  recordingApp,
  request,
  tmp,
  until,
} from "../support/mesh-identities.js";
import { parseMetrics } from "../support/metrics.js";
import { freePort, freePorts } from "../support/ports.js";

// Mutual TLS runs only on Lanecar's codec (the node:http fallback refuses --identity-dir): this
// file forces it in both test projects, as test/e2e/mtls.test.ts does for its processes.
process.env.LANECAR_DATA_PATH = "h1";

const HOST = "reviews.default.svc.cluster.local";
const quiet = { info: () => {}, error: () => {} };

let ids: Identities;
let app: RecordingApp;
let inbound = 0;
let configFile = "";
let server: ProxyProcess;
let productpage: ProxyProcess;
let ratings: ProxyProcess;
const logLines: string[] = [];

function config(policy: string): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: default }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${inbound} }, labels: { app: reviews } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy:
    tls: { mode: ISTIO_MUTUAL }
---
${policy}`;
}

const ALLOW_PRODUCTPAGE = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-viewer, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["cluster.local/ns/default/sa/productpage"] } }]
    to: [{ operation: { methods: ["GET"] } }]
`;

function sidecar(service: string, identityDir: string, opts: { inbound?: string; admin?: string } = {}) {
  return startSidecar({
    config: [configFile],
    service,
    namespace: "default",
    podLabels: { app: service, version: "v1" },
    inbound: opts.inbound ?? "127.0.0.1:0",
    outbound: "127.0.0.1:0",
    app: `http://127.0.0.1:${app.port}`,
    admin: opts.admin,
    pollMs: 100,
    logger: quiet,
    accessLog: service === "reviews",
    mtls: { identityDir, trustDomain: "cluster.local", pollMs: 1000 },
  });
}

beforeAll(async () => {
  ids = new Identities();
  app = await recordingApp();
  inbound = await freePort();
  configFile = join(tmp("authz"), "config.yaml");
  writeFileSync(configFile, config(ALLOW_PRODUCTPAGE));
  // The access log is batched to stdout; keep the inbound lines.
  const write = process.stdout.write.bind(process.stdout) as (...a: unknown[]) => boolean;
  const tee = (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    for (const l of text.split("\n")) if (l.includes(" inbound ")) logLines.push(l);
    return write(chunk, ...rest);
  };
  vi.spyOn(process.stdout, "write").mockImplementation(tee as typeof process.stdout.write);
  server = await sidecar("reviews", ids.issue("reviews"), {
    inbound: `127.0.0.1:${inbound}`,
    admin: "127.0.0.1:0",
  });
  productpage = await sidecar("productpage", ids.issue("productpage"));
  ratings = await sidecar("ratings", ids.issue("ratings"));
});
afterAll(async () => {
  vi.restoreAllMocks();
  await Promise.all([server?.close(), productpage?.close(), ratings?.close()]);
  await app?.close();
});

/** A call the client's app makes through its sidecar (HTTP_PROXY style). */
function call(
  from: ProxyProcess,
  path: string,
  method = "GET",
): Promise<{ status: number; body: string; flags: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: from.addresses.get("outbound")!.port,
        method,
        path: `http://${HOST}:9080${path}`,
        headers: { host: `${HOST}:9080` },
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => {
          body += d;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            body,
            flags: res.headers["x-lanecar-flags"] as string | undefined,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function requestsTotal(match: Record<string, string>): Promise<number> {
  const admin = server.addresses.get("admin")!;
  const text = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
  return parseMetrics(text)
    .filter(
      (s) => s.name === "istio_requests_total" && Object.entries(match).every(([k, v]) => s.labels[k] === v),
    )
    .reduce((n, s) => n + s.value, 0);
}

const PRODUCTPAGE = "spiffe://cluster.local/ns/default/sa/productpage";
const RATINGS = "spiffe://cluster.local/ns/default/sa/ratings";
const REVIEWS = "spiffe://cluster.local/ns/default/sa/reviews";

describe("AuthorizationPolicy on a sidecar's inbound, over mutual TLS", () => {
  it("allows principal productpage; denies ratings with 403 RBAC before the app; logged and counted", async () => {
    app.seen.length = 0;
    const a = await call(productpage, "/from-productpage");
    expect(a).toMatchObject({ status: 200, body: "from-app" });
    const b = await call(ratings, "/from-ratings");
    expect(b).toMatchObject({ status: 403, body: "RBAC: access denied", flags: "RBAC" });
    expect(app.seen).toEqual(["GET /from-productpage"]);

    await until(() => logLines.some((l) => l.includes("/from-ratings")), "the access log line");
    const denied = logLines.find((l) => l.includes("/from-ratings"))!;
    expect(denied).toMatch(/ inbound "GET \/from-ratings HTTP\/1\.1" 403 RBAC /);
    expect(denied).toContain(" upstream=- ");
    expect(denied).toContain(` source_principal=${RATINGS} destination_principal=${REVIEWS}`);
    const allowed = logLines.find((l) => l.includes("/from-productpage"))!;
    expect(allowed).toMatch(/ 200 - /);
    expect(allowed).toContain(` source_principal=${PRODUCTPAGE} destination_principal=${REVIEWS}`);

    const secure = {
      reporter: "destination",
      connection_security_policy: "mutual_tls",
      destination_principal: REVIEWS,
    };
    // Envoy's RBAC filter sets no response flag: Istio's metric says `-` for a denial.
    expect(
      await requestsTotal({
        ...secure,
        source_principal: RATINGS,
        response_code: "403",
        response_flags: "-",
      }),
    ).toBe(1);
    expect(await requestsTotal({ ...secure, source_principal: PRODUCTPAGE, response_code: "200" })).toBe(1);
    expect(await requestsTotal({ source_workload: "ratings-v1", response_code: "403" })).toBe(1);
  });

  it("a method the rule does not allow is denied for productpage too (to.operation.methods)", async () => {
    app.seen.length = 0;
    expect(await call(productpage, "/write", "POST")).toMatchObject({
      status: 403,
      body: "RBAC: access denied",
    });
    expect(app.seen).toEqual([]);
  });

  it("plaintext has no principal: denied by a policy that requires one; counted with connection_security_policy none", async () => {
    app.seen.length = 0;
    const r = await request(inbound, { path: "/plaintext" });
    expect(r).toMatchObject({ status: 403, body: "RBAC: access denied", flags: "RBAC" });
    expect(app.seen).toEqual([]);
    expect(
      await requestsTotal({
        connection_security_policy: "none",
        source_principal: "unknown",
        destination_principal: "unknown",
        response_code: "403",
      }),
    ).toBe(1);
  });

  it("a denied request with a body: the body is not mistaken for the next request on the connection", async () => {
    app.seen.length = 0;
    const s = net.connect({ port: inbound, host: "127.0.0.1" });
    let got = "";
    s.on("data", (d) => {
      got += d.toString("latin1");
    });
    // Two pipelined requests; the first body looks like a request line of its own.
    const body = "GET /smuggled HTTP/1.1\r\nhost: reviews\r\n\r\n";
    s.write(
      `POST /upload HTTP/1.1\r\nhost: reviews\r\ncontent-length: ${body.length}\r\n\r\n${body}` +
        "GET /second HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n",
    );
    await new Promise((r) => s.on("close", r));
    const statuses = [...got.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    // Plaintext has no principal: both real requests are denied, none reaches the app.
    expect(statuses).toEqual(["403", "403"]);
    expect(app.seen).toEqual([]);
    await until(() => logLines.some((l) => l.includes("/second")), "the access log line");
    expect(logLines.some((l) => l.includes('"POST /upload HTTP/1.1" 403 RBAC'))).toBe(true);
    expect(logLines.some((l) => l.includes("/smuggled"))).toBe(false);
  });

  it("a reload swaps the policy: DENY rules on a path with a header condition and on the source namespace", async () => {
    const version = server.rt.config.current.version;
    writeFileSync(
      configFile,
      config(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-admin, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  action: DENY
  rules:
  - to: [{ operation: { paths: ["/admin/*"] } }]
    when: [{ key: "request.headers[x-debug]", notValues: ["yes"] }]
  - from: [{ source: { namespaces: ["default"] } }]
    to: [{ operation: { paths: ["/ns-only"] } }]
`),
    );
    await until(() => server.rt.config.current.version !== version, "the config reload");
    app.seen.length = 0;
    expect((await call(ratings, "/reviews/1")).status).toBe(200);
    expect((await call(ratings, "/admin/stats")).status).toBe(403);
    expect((await request(inbound, { path: "/admin/x", headers: { "x-debug": "yes" } })).status).toBe(200);
    // namespaces: from the verified certificate (ratings is in default); plaintext has none.
    expect((await call(ratings, "/ns-only")).status).toBe(403);
    expect((await request(inbound, { path: "/ns-only" })).status).toBe(200);
    expect(app.seen).toEqual(["GET /reviews/1", "GET /admin/x", "GET /ns-only"]);
  });

  it("a lanecar process on either data path enforces ipBlocks (remote address) and methods on plaintext", async () => {
    const file = join(tmp("authz-proc"), "config.yaml");
    writeFileSync(
      file,
      config(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: loopback-reads, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  rules:
  - from: [{ source: { ipBlocks: ["127.0.0.0/8"] } }]
    to: [{ operation: { methods: ["GET", "HEAD"] } }]
`),
    );
    const [inb, outb, adm] = await freePorts(3);
    for (const path of ["h1", "node"]) {
      const sc = await startLanecar(
        [
          "sidecar",
          "--config",
          file,
          "--service",
          "reviews",
          "--pod-labels",
          "app=reviews,version=v1",
          "--app",
          `http://127.0.0.1:${app.port}`,
          "--inbound",
          `127.0.0.1:${inb}`,
          "--outbound",
          `127.0.0.1:${outb}`,
          "--access-log",
        ],
        `127.0.0.1:${adm}`,
        { LANECAR_DATA_PATH: path },
      );
      try {
        app.seen.length = 0;
        expect(await request(inb!, { path: "/read" })).toMatchObject({ status: 200, body: "from-app" });
        expect(await request(inb!, { method: "DELETE", path: "/write" })).toMatchObject({
          status: 403,
          body: "RBAC: access denied",
          flags: "RBAC",
        });
        expect(app.seen).toEqual(["GET /read"]);
        await until(() => sc.stdout().includes("/write"), `the access log (${path})`);
        expect(sc.stdout()).toMatch(/ inbound "DELETE \/write HTTP\/1\.1" 403 RBAC [^\n]* upstream=- /);
      } finally {
        expect(await sc.stop()).toBe(0);
      }
    }
  });
});
