/**
 * Issue 15 item 5, TLS at the edge, on a real `lanecar gateway` with real TLS on loopback and
 * independent clients (OpenSSL's s_client, curl, Node's https): Gateway HTTPS servers in SIMPLE
 * and MUTUAL mode chosen by SNI, certificates from `--credentials-dir` (credentialName) and from
 * files, httpsRedirect, a broken credential refused while the rest works, rotation without a
 * failed request, and the node:http fallback refusing to start. Certificates are made with the
 * openssl CLI, as a user would.
 */
import { execFile, execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCa, issueWorkload } from "../../packages/proxy/src/identity/index.js";
import { startApp, type TestApp } from "../support/apps.js";
import { type Running, runLanecarToExit, startLanecar } from "../support/lanecar.js";
import { freePorts } from "../support/ports.js";

const H1 = { LANECAR_DATA_PATH: "h1" };

interface Pair {
  crt: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: "pipe" });
}

function newCa(dir: string, cn: string): Pair {
  mkdirSync(dir, { recursive: true });
  const p = { crt: join(dir, "ca.crt"), key: join(dir, "ca.key") };
  openssl([
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", p.key, "-out", p.crt, "-subj", `/CN=${cn}`, "-days", "2"],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
  ]);
  return p;
}

/** A certificate for `san` (e.g. `DNS:a.example.com`) signed by `ca`, as tls.crt/tls.key in `dir`. */
function issue(ca: Pair, dir: string, cn: string, san: string): Pair {
  mkdirSync(dir, { recursive: true });
  const p = { crt: join(dir, "tls.crt"), key: join(dir, "tls.key") };
  const csr = join(dir, "req.csr");
  const ext = join(dir, "ext.cnf");
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
  openssl([
    ...["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", p.key, "-out", csr, "-subj", `/CN=${cn}`],
  ]);
  openssl([
    ...["x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key, "-set_serial", String(Date.now())],
    ...["-days", "1", "-out", p.crt, "-extfile", ext],
  ]);
  return p;
}

function fingerprint(pemFile: string): string {
  return new X509Certificate(readFileSync(pemFile)).fingerprint256;
}

/** OpenSSL's s_client with `-servername`: the fingerprint of the certificate it was shown, or null. */
function sClient(port: number, sni: string, extra: string[] = []): Promise<string | null> {
  return new Promise((resolve) => {
    const child = execFile(
      "openssl",
      ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", sni, ...extra],
      { timeout: 10_000 },
      (_err, stdout) => {
        const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout);
        resolve(m ? new X509Certificate(m[0]).fingerprint256 : null);
      },
    );
    child.stdin?.end();
  });
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request on a new connection (Node's https client, verifying against `ca`). */
function httpsGet(
  port: number,
  sni: string,
  ca: string,
  opts: { path?: string; headers?: Record<string, string>; cert?: Pair } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        servername: sni,
        path: opts.path ?? "/",
        ca: readFileSync(ca),
        ...(opts.cert ? { cert: readFileSync(opts.cert.crt), key: readFileSync(opts.cert.key) } : {}),
        headers: { host: sni, ...opts.headers },
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** One plaintext request (raw bytes, so the exact status line and Location are seen). */
function plainGet(port: number, host: string, path: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    let out = "";
    s.on("connect", () => s.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`));
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(out));
  });
}

/** curl (async: the apps answering it run in this process): the status code, or why it failed. */
function curl(port: number, host: string, ca: string, extra: string[] = [], path = "/"): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      [
        ...["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"],
        ...[
          "--cacert",
          ca,
          "--resolve",
          `${host}:${port}:127.0.0.1`,
          ...extra,
          `https://${host}:${port}${path}`,
        ],
      ],
      (err, stdout, stderr) => resolve(err ? `failed: ${stderr.trim()}` : stdout),
    );
  });
}

let dir = "";
let creds = "";
let ca: Pair;
let otherCa: Pair;
let client: Pair;
let wrongSanClient: Pair;
let strangerClient: Pair;
let filesPair: Pair;
const apps: TestApp[] = [];
let gw: Running;
let httpPort = 0;
let httpsPort = 0;
let adminPort = 0;
let appPorts: number[] = [];

function config(p1: number, p2: number, extraServers = ""): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http-redirect, protocol: HTTP}
    hosts: [a.example.com]
    tls: {httpsRedirect: true}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [plain.example.com]
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, credentialName: a-cred}
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: ["*.b.example.com"]
    tls:
      mode: MUTUAL
      credentialName: b-cred
      subjectAltNames: [spiffe://cluster.local/ns/default/sa/client]
  - port: {number: 443, name: https-files, protocol: HTTPS}
    hosts: [files.example.com]
    tls:
      mode: SIMPLE
      serverCertificate: ${filesPair.crt}
      privateKey: ${filesPair.key}
      minProtocolVersion: TLSV1_3
  - port: {number: 443, name: https-broken, protocol: HTTPS}
    hosts: [broken.example.com]
    tls: {mode: SIMPLE, credentialName: broken}
${extraServers}---
apiVersion: networking.istio.io/v1
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
metadata: {name: edge}
spec:
  hosts: [a.example.com, "*.b.example.com", files.example.com, plain.example.com, c.example.com]
  gateways: [edge]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    headers: {request: {set: {x-asm-prefer-tag: gray}}}
    route: [{destination: {host: web, subset: v2}}]
  - name: https-only
    match: [{scheme: {exact: https}, uri: {prefix: /scheme}}]
    directResponse: {status: 200, body: {string: "scheme https"}}
  - name: default
    route: [{destination: {host: web, subset: v1}}]
`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lanecar-edge-tls-"));
  ca = newCa(join(dir, "ca"), "edge test CA");
  otherCa = newCa(join(dir, "other-ca"), "someone else");
  creds = join(dir, "creds");
  issue(ca, join(creds, "a-cred"), "a.example.com", "DNS:a.example.com");
  issue(ca, join(creds, "b-cred"), "b.example.com", "DNS:*.b.example.com");
  copyFileSync(ca.crt, join(creds, "b-cred", "ca.crt"));
  filesPair = issue(ca, join(dir, "files"), "files.example.com", "DNS:files.example.com");
  mkdirSync(join(creds, "broken"));
  writeFileSync(join(creds, "broken", "tls.crt"), readFileSync(join(creds, "a-cred", "tls.crt")));
  client = issue(ca, join(dir, "client"), "client", "URI:spiffe://cluster.local/ns/default/sa/client");
  wrongSanClient = issue(
    ca,
    join(dir, "client2"),
    "client2",
    "URI:spiffe://cluster.local/ns/default/sa/other",
  );
  strangerClient = issue(
    otherCa,
    join(dir, "client3"),
    "client",
    "URI:spiffe://cluster.local/ns/default/sa/client",
  );
  const [p1, p2, h, hs, adm] = await freePorts(5);
  apps.push(
    await startApp({ service: "web", version: "v1", port: p1! }),
    await startApp({ service: "web", version: "v2", port: p2! }),
  );
  [httpPort, httpsPort, adminPort] = [h!, hs!, adm!];
  appPorts = [p1!, p2!];
  const cfg = join(dir, "config");
  mkdirSync(cfg);
  writeFileSync(join(cfg, "gw.yaml"), config(p1!, p2!));
  gw = await startLanecar(
    [
      ...["gateway", "--config", cfg, "--credentials-dir", creds],
      ...["--listen", `127.0.0.1:${httpPort}`, "--listen-https", `127.0.0.1:${httpsPort}`],
    ],
    `127.0.0.1:${adminPort}`,
    H1,
  );
}, 60_000);

afterAll(async () => {
  if (gw) expect(await gw.stop()).toBe(0);
  await Promise.all(apps.map((a) => a.close()));
});

describe("Gateway HTTPS servers (tls SIMPLE)", () => {
  it("serves HTTPS with the lane routing unchanged (jason → v2 with the lane header, others → v1)", async () => {
    const plain = await httpsGet(httpsPort, "a.example.com", ca.crt);
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.body)).toMatchObject({ service: "web", version: "v1" });
    const jason = await httpsGet(httpsPort, "a.example.com", ca.crt, { headers: { "end-user": "jason" } });
    expect(jason.status).toBe(200);
    const hop = JSON.parse(jason.body);
    expect(hop).toMatchObject({ service: "web", version: "v2" });
    expect(hop.headers["x-asm-prefer-tag"]).toBe("gray");
    // The request is https to VirtualService matches.
    const scheme = await httpsGet(httpsPort, "a.example.com", ca.crt, { path: "/scheme" });
    expect(scheme.body).toBe("scheme https");
  });

  it("SNI picks the server's certificate (openssl s_client); an unknown name is refused", async () => {
    const a = fingerprint(join(creds, "a-cred", "tls.crt"));
    expect(await sClient(httpsPort, "a.example.com")).toBe(a);
    expect(await sClient(httpsPort, "files.example.com")).toBe(fingerprint(filesPair.crt));
    // That server's minProtocolVersion is TLSV1_3: a TLS 1.2 client is refused; another server takes it.
    expect(await sClient(httpsPort, "files.example.com", ["-tls1_2"])).toBeNull();
    expect(await sClient(httpsPort, "a.example.com", ["-tls1_2"])).not.toBeNull();
    expect(await sClient(httpsPort, "x.b.example.com")).toBe(fingerprint(join(creds, "b-cred", "tls.crt")));
    expect(await sClient(httpsPort, "nope.example.com")).toBeNull();
    expect(await sClient(httpsPort, "b.example.com")).toBeNull(); // `*.b.example.com` is subdomains only
    expect(await curl(httpsPort, "a.example.com", ca.crt)).toBe("200");
    expect(await curl(httpsPort, "nope.example.com", ca.crt)).toMatch(/^failed: /);
  });

  it("plaintext on the HTTPS port is closed without an answer", async () => {
    expect(await plainGet(httpsPort, "a.example.com", "/")).toBe("");
  });
});

describe("Gateway HTTPS servers (tls MUTUAL)", () => {
  it("refuses a client without a certificate and serves one with a certificate from the CA and the SAN", async () => {
    await expect(httpsGet(httpsPort, "x.b.example.com", ca.crt)).rejects.toThrow();
    expect(await curl(httpsPort, "x.b.example.com", ca.crt)).toMatch(/^failed: /);
    const ok = await httpsGet(httpsPort, "x.b.example.com", ca.crt, { cert: client });
    expect(ok.status).toBe(200);
    expect(
      await curl(httpsPort, "x.b.example.com", ca.crt, ["--cert", client.crt, "--key", client.key]),
    ).toBe("200");
  });

  it("refuses a client certificate from another CA, and one without the required SAN", async () => {
    await expect(httpsGet(httpsPort, "x.b.example.com", ca.crt, { cert: strangerClient })).rejects.toThrow();
    await expect(httpsGet(httpsPort, "x.b.example.com", ca.crt, { cert: wrongSanClient })).rejects.toThrow();
    expect(apps[0]!.received + apps[1]!.received).toBeGreaterThan(0);
  });
});

describe("the hosts a TLS connection may name", () => {
  it("only the SNI-chosen server's: the SIMPLE server's connection cannot reach the MUTUAL server's host", async () => {
    const r = await httpsGet(httpsPort, "a.example.com", ca.crt, { headers: { host: "x.b.example.com" } });
    expect(r.status).toBe(404);
    expect(r.headers["x-lanecar-flags"]).toBe("NR");
    const ok = await httpsGet(httpsPort, "a.example.com", ca.crt, { headers: { host: "A.example.com:443" } });
    expect(ok.status).toBe(200);
  });
});

describe("httpsRedirect and the hosts of each listener", () => {
  it("answers 301 to https://<Host><path> for an httpsRedirect server's host, before routing", async () => {
    const r = await plainGet(httpPort, `a.example.com:${httpPort}`, "/reviews/1?x=%20y");
    expect(r.split("\r\n")[0]).toBe("HTTP/1.1 301 Moved Permanently");
    expect(r).toMatch(
      new RegExp(`\r\nlocation: https://a\\.example\\.com:${httpPort}/reviews/1\\?x=%20y\r\n`, "i"),
    );
  });

  it("serves a plain HTTP server's host, and never an HTTPS-only host in plaintext (404 NR)", async () => {
    const plain = await plainGet(httpPort, "plain.example.com", "/");
    expect(plain.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
    const leak = await plainGet(httpPort, "files.example.com", "/");
    expect(leak.split("\r\n")[0]).toBe("HTTP/1.1 404 Not Found");
    expect(leak).toMatch(/x-lanecar-flags: NR/i);
  });
});

describe("a broken credential", () => {
  it("is named at start, its SNI is refused, and /config_dump shows every server (no key material)", async () => {
    expect(gw.stderr()).toMatch(
      /server https-broken .*credential "broken": a certificate without a key; connections for its hosts are refused/,
    );
    expect(await sClient(httpsPort, "broken.example.com")).toBeNull();
    expect(await sClient(httpsPort, "a.example.com")).not.toBeNull();
    const dump = await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).text();
    expect(dump).not.toContain("PRIVATE KEY");
    expect(gw.stderr()).not.toContain("PRIVATE KEY");
    const servers = JSON.parse(dump).gatewayTls.servers as Record<string, unknown>[];
    expect(servers.map((s) => [s.hosts, s.mode, s.fingerprint256 !== null, s.error === null])).toEqual([
      [["a.example.com"], "SIMPLE", true, true],
      [["*.b.example.com"], "MUTUAL", true, true],
      [["files.example.com"], "SIMPLE", true, true],
      [["broken.example.com"], "SIMPLE", false, false],
    ]);
    expect(servers[0]).toMatchObject({
      source: "credentialName a-cred",
      fingerprint256: fingerprint(join(creds, "a-cred", "tls.crt")),
      validTo: new X509Certificate(readFileSync(join(creds, "a-cred", "tls.crt"))).validTo,
    });
    expect(servers[3]!.error).toContain('credential "broken"');
    // The refusals of the tests before, each counted where it happened.
    const counts = JSON.parse(dump).gatewayTls.connections as Record<string, number>;
    for (const k of ["noServer", "notTls", "noCertificate", "failed", "sanRejected"])
      expect(counts[k]).toBeGreaterThan(0);
  });
});

describe("rotation of a credential's files", () => {
  it("new handshakes get the new certificate, with no failed request during the change", async () => {
    const before = fingerprint(join(creds, "a-cred", "tls.crt"));
    const next = issue(ca, join(dir, "a-next"), "a.example.com", "DNS:a.example.com");
    let stop = false;
    const statuses: (number | string)[] = [];
    const load = (async () => {
      while (!stop) {
        statuses.push(
          await httpsGet(httpsPort, "a.example.com", ca.crt).then(
            (r) => r.status,
            (e: Error) => e.message,
          ),
        );
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    // As a Secret volume update does: the new files replace the old ones (key first, then cert).
    renameSync(next.key, join(creds, "a-cred", "tls.key"));
    renameSync(next.crt, join(creds, "a-cred", "tls.crt"));
    const after = fingerprint(join(creds, "a-cred", "tls.crt"));
    expect(after).not.toBe(before);
    const until = Date.now() + 10_000;
    while (Date.now() < until && (await sClient(httpsPort, "a.example.com")) !== after)
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await load;
    expect(await sClient(httpsPort, "a.example.com")).toBe(after);
    expect(statuses.length).toBeGreaterThan(5);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });
});

describe("a credential that breaks after it worked", () => {
  it("keeps serving the last good certificate, and says so in the log and /config_dump", async () => {
    const good = fingerprint(filesPair.crt);
    const saved = readFileSync(filesPair.crt);
    writeFileSync(filesPair.crt, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    try {
      expect(await sClient(httpsPort, "files.example.com")).toBe(good);
      type Dump = { gatewayTls: { servers: { hosts: string[]; error: string | null }[] } };
      const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as Dump;
      const files = dump.gatewayTls.servers.find((x) => x.hosts[0] === "files.example.com")!;
      expect(files).toMatchObject({ fingerprint256: good, servingLastGood: true });
      expect(files.error).toContain(`${filesPair.crt} is not a PEM certificate`);
      expect(gw.stderr()).toContain(`${filesPair.crt} is not a PEM certificate`);
    } finally {
      writeFileSync(filesPair.crt, saved);
    }
    expect(await sClient(httpsPort, "files.example.com")).toBe(good);
  });
});

describe("config reload", () => {
  it("serves an HTTPS server a reload adds, with its certificate", async () => {
    issue(ca, join(creds, "c-cred"), "c.example.com", "DNS:c.example.com");
    expect(await sClient(httpsPort, "c.example.com")).toBeNull();
    const extra = `  - port: {number: 443, name: https-c, protocol: HTTPS}
    hosts: [c.example.com]
    tls: {mode: SIMPLE, credentialName: c-cred}
`;
    writeFileSync(join(dir, "config", "gw.yaml"), config(appPorts[0]!, appPorts[1]!, extra));
    const want = fingerprint(join(creds, "c-cred", "tls.crt"));
    const until = Date.now() + 10_000;
    let seen: string | null = null;
    while (Date.now() < until && (seen = await sClient(httpsPort, "c.example.com")) !== want)
      await new Promise((r) => setTimeout(r, 200));
    expect(seen).toBe(want);
    expect((await httpsGet(httpsPort, "c.example.com", ca.crt)).status).toBe(200);
  });
});

describe("Istio's secure ingress task", () => {
  it("serves Istio's httpbin VirtualService over HTTPS with the task's SIMPLE Gateway (credentialName)", async () => {
    // The VirtualService is Istio's file, read where it lies; the Gateway is the secure-ingress
    // task's (SIMPLE, credentialName httpbin-credential, host httpbin.example.com).
    const vs = fileURLToPath(
      new URL("../../../shared/conformance/istio/tasks/ingress-control__httpbin-vs.yaml", import.meta.url),
    );
    const cfg = join(dir, "secure-ingress");
    mkdirSync(cfg);
    issue(ca, join(creds, "httpbin-credential"), "httpbin.example.com", "DNS:httpbin.example.com");
    writeFileSync(
      join(cfg, "gateway.yaml"),
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: httpbin-credential
    hosts:
    - httpbin.example.com
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  location: MESH_INTERNAL
  ports: [{number: 8000, name: http}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${appPorts[0]}}}]
`,
    );
    const [listen, listenHttps, admin] = await freePorts(3);
    const edge = await startLanecar(
      [
        ...["gateway", "--config", vs, "--config", cfg, "--credentials-dir", creds],
        ...["--listen", `127.0.0.1:${listen}`, "--listen-https", `127.0.0.1:${listenHttps}`],
      ],
      `127.0.0.1:${admin}`,
      H1,
    );
    try {
      // As the task: curl --resolve httpbin.example.com:$PORT:... --cacert ... https://httpbin.example.com:$PORT/status/418
      expect(await curl(listenHttps!, "httpbin.example.com", ca.crt, [], "/status/418")).toBe("200");
      const r = await httpsGet(listenHttps!, "httpbin.example.com", ca.crt, { path: "/status/418" });
      expect(JSON.parse(r.body)).toMatchObject({ service: "web", version: "v1" });
      // The VirtualService routes /status and /delay only.
      expect(await curl(listenHttps!, "httpbin.example.com", ca.crt, [], "/headers")).toBe("404");
      // The Gateway has no HTTP server: httpbin.example.com is not served in plaintext.
      expect((await plainGet(listen!, "httpbin.example.com", "/status/418")).split("\r\n")[0]).toBe(
        "HTTP/1.1 404 Not Found",
      );
    } finally {
      expect(await edge.stop()).toBe(0);
    }
  });
});

/** A TCP relay that records every byte the gateway sends towards the sidecar. */
async function relay(to: number): Promise<{ port: number; bytes: Buffer[]; close: () => void }> {
  const bytes: Buffer[] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const u = net.connect({ port: to, host: "127.0.0.1" });
    socks.add(c).add(u);
    c.on("data", (d) => {
      bytes.push(d);
      u.write(d);
    });
    u.pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
    c.on("close", () => u.destroy());
    u.on("close", () => c.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    bytes,
    close: () => {
      for (const x of socks) x.destroy();
      srv.close();
    },
  };
}

describe("the gateway originates mutual TLS into the mesh (--identity-dir, ISTIO_MUTUAL)", () => {
  it("reaches a STRICT sidecar through a relay that sees only TLS records; 200", async () => {
    const meshCa = join(dir, "mesh-ca");
    initCa(meshCa);
    const gwId = join(dir, "id-gateway");
    const reviewsId = join(dir, "id-reviews");
    issueWorkload(meshCa, gwId, {
      namespace: "istio-system",
      serviceAccount: "ingressgateway",
      ttlMs: 3600_000,
    });
    issueWorkload(meshCa, reviewsId, { namespace: "default", serviceAccount: "reviews", ttlMs: 3600_000 });
    const [appPort, inbound, outbound, scAdmin, listen, gwAdmin] = await freePorts(6);
    const app = await startApp({ service: "reviews", version: "v1", port: appPort! });
    const cfg = join(dir, "mesh-config");
    mkdirSync(cfg);
    let sidecar: Running | undefined;
    let edge: Running | undefined;
    let r: Awaited<ReturnType<typeof relay>> | undefined;
    try {
      // The relay connects on demand: it can stand before the sidecar does.
      r = await relay(inbound!);
      writeFileSync(
        join(cfg, "mesh.yaml"),
        `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mesh-edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${r.port}}, labels: {version: v1}, serviceAccount: reviews}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: ["*"]
  gateways: [mesh-edge]
  http: [{route: [{destination: {host: reviews.default.svc.cluster.local, port: {number: 9080}}}]}]
`,
      );
      sidecar = await startLanecar(
        [
          ...["sidecar", "--config", cfg, "--service", "reviews", "--app", `http://127.0.0.1:${appPort}`],
          ...["--inbound", `127.0.0.1:${inbound}`, "--outbound", `127.0.0.1:${outbound}`],
          ...["--identity-dir", reviewsId, "--mtls-mode", "STRICT"],
        ],
        `127.0.0.1:${scAdmin}`,
        H1,
      );
      edge = await startLanecar(
        [
          ...["gateway", "--config", cfg, "--listen", `127.0.0.1:${listen}`, "--namespace", "istio-system"],
          ...["--identity-dir", gwId],
        ],
        `127.0.0.1:${gwAdmin}`,
        H1,
      );
      for (let i = 0; i < 3; i++) {
        const res = await plainGet(listen!, "reviews.example.com", `/reviews/${i}`);
        expect(res.split("\r\n")[0]).toBe("HTTP/1.1 200 OK");
        expect(res).toContain('"service":"reviews"');
      }
      const wire = Buffer.concat(r.bytes);
      expect(wire.length).toBeGreaterThan(0);
      // Every byte is a TLS record (handshake, then application data): nothing in plaintext.
      let appData = 0;
      for (let i = 0; i < wire.length; i += 5 + wire.readUInt16BE(i + 3)) {
        expect([0x14, 0x15, 0x16, 0x17]).toContain(wire[i]);
        expect(wire[i + 1]).toBe(3);
        if (wire[i] === 0x17) appData++;
      }
      expect(appData).toBeGreaterThanOrEqual(3);
      expect(wire.includes("/reviews/")).toBe(false);
    } finally {
      if (edge) expect(await edge.stop()).toBe(0);
      if (sidecar) expect(await sidecar.stop()).toBe(0);
      r?.close();
      await app.close();
    }
  });
});

describe("the node:http fallback", () => {
  it("refuses to start a gateway with HTTPS servers, in one line", async () => {
    const r = await runLanecarToExit(
      [
        "gateway",
        "--config",
        join(dir, "config"),
        "--credentials-dir",
        creds,
        "--listen",
        "127.0.0.1:0",
        "--listen-https",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
      ],
      { LANECAR_DATA_PATH: "node" },
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(
      "lanecar gateway: TLS at the edge (the HTTPS servers of Gateway default/edge, --listen-https) runs only on Lanecar's HTTP/1.1 codec, not on the node:http fallback (",
    );
  });
});
