/**
 * Issue 15 item 2, black box: Istio's egress TLS-origination task through a real `lanecar
 * sidecar` (files read from ../shared). The app sends plain HTTP; Lanecar originates TLS:
 *
 * - `egress-tls-origination__se-dr`: ServiceEntry port 80 → targetPort 443, DestinationRule
 *   port-level `SIMPLE`: HTTPS to edition.cnn.com (dnsmasq answers a loopback address), SNI and
 *   verification by the host, against the default roots (NODE_EXTRA_CA_CERTS adds the test CA, as
 *   an OS trust store would); without the CA: 503 UF with the TLS reason in body and access log.
 * - `egress-tls-origination__dr-mtls-workloadselector`: `MUTUAL` with `credentialName` and `sni`:
 *   the server requires a client certificate and sees the credential's.
 * - `caCertificates` / `subjectAltNames` files, a wrong CA, and a credential that does not exist.
 *
 * Certificates come from Debian's openssl; the servers are Node https servers.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Started, startSidecarProcess } from "../hardening/support/proxy.js";
import { type Dnsmasq, startDnsmasq } from "../support/dnsmasq.js";
import { freePort } from "../support/ports.js";
import { requireBinary } from "../support/system-packages.js";

const TASKS = fileURLToPath(new URL("../../../shared/conformance/istio/tasks/", import.meta.url));
const task = (f: string) => readFileSync(`${TASKS}${f}.yaml`, "utf8");

/** Loopback addresses of this run (127.X.Y.n), so port 443 is free whatever else runs. */
const NET = `127.${64 + Math.floor(Math.random() * 128)}.${1 + Math.floor(Math.random() * 250)}`;
const CNN = `${NET}.3`;
const NGINX = `${NET}.4`;
const NGINX_HOST = "my-nginx.mesh-external.svc.cluster.local";

const dir = mkdtempSync(join(tmpdir(), "lanecar-tls-orig-"));
const CNF = join(dir, "openssl.cnf");

function openssl(args: string[]): void {
  execFileSync(requireBinary("openssl"), args, { stdio: "pipe" });
}

/** A CA (`<name>.pem`, `<name>.key`). */
function ca(name: string): string {
  const p = join(dir, name);
  openssl([
    ...["req", "-config", CNF, "-extensions", "ca", "-x509", "-newkey", "ec"],
    ...["-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", `/CN=${name}`],
    ...["-keyout", `${p}.key`, "-out", `${p}.pem`],
  ]);
  return `${p}.pem`;
}

/** A leaf signed by CA `by`, with `sans` (DNS names); `<name>.pem`, `<name>.key`. */
function leaf(name: string, by: string, sans: string[]): { cert: string; key: string } {
  const p = join(dir, name);
  const c = join(dir, by);
  openssl([
    ...["req", "-config", CNF, "-extensions", "leaf", "-x509", "-newkey", "ec"],
    ...["-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", `/CN=${name}`],
    ...["-addext", `subjectAltName=${sans.map((s) => `DNS:${s}`).join(",")}`],
    ...["-CA", `${c}.pem`, "-CAkey", `${c}.key`, "-keyout", `${p}.key`, "-out", `${p}.pem`],
  ]);
  return { cert: readFileSync(`${p}.pem`, "utf8"), key: readFileSync(`${p}.key`, "utf8") };
}

interface Seen {
  host: string | undefined;
  url: string | undefined;
  sni: string | false;
  /** CN of the client certificate, "" without one. */
  client: string;
}

interface TlsServer {
  seen: Seen[];
  /** TLS connections accepted (a kept-alive pool opens one for many requests). */
  handshakes: number;
  close(): void;
}

async function tlsServer(
  address: string,
  port: number,
  name: string,
  cert: { cert: string; key: string },
  clientCa?: string,
): Promise<TlsServer> {
  const out: TlsServer = { seen: [], handshakes: 0, close: () => {} };
  const s = https.createServer(
    {
      ...cert,
      ...(clientCa ? { ca: readFileSync(clientCa), requestCert: true, rejectUnauthorized: true } : {}),
    },
    (req, res) => {
      const sock = req.socket as TLSSocket;
      const peer = sock.getPeerCertificate();
      out.seen.push({
        host: req.headers.host,
        url: req.url,
        // Set by node:tls on server sockets (not in @types/node).
        sni: (sock as unknown as { servername: string | false }).servername,
        client: peer?.subject?.CN ?? "",
      });
      res.end(name);
    },
  );
  s.on("secureConnection", () => out.handshakes++);
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, address, () => resolve());
  });
  out.close = () => {
    s.closeAllConnections();
    s.close();
  };
  return out;
}

interface Reply {
  status: number;
  flags: string | undefined;
  body: string;
}

/** An absolute-form request through the sidecar's outbound listener (the app's HTTP_PROXY). */
function viaProxy(port: number, url: string): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: "127.0.0.1", port, path: url, headers: { host: u.host } }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, flags: res.headers["x-lanecar-flags"] as string, body }),
      );
    });
    r.on("error", reject);
    r.end();
  });
}

let CA = "";
let OTHER_CA = "";
let CLIENT_CA = "";
let cnnCert: { cert: string; key: string };

beforeAll(() => {
  writeFileSync(
    CNF,
    "[req]\ndistinguished_name=dn\n[dn]\n[leaf]\nbasicConstraints=critical,CA:FALSE\n" +
      "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
  );
  CA = ca("server-ca");
  OTHER_CA = ca("other-ca");
  CLIENT_CA = ca("client-ca");
  cnnCert = leaf("edition.cnn.com", "server-ca", ["edition.cnn.com"]);
});

describe("SIMPLE: Istio's task (ServiceEntry 80 → 443, port-level SIMPLE), plain HTTP in, HTTPS out", () => {
  let ns: Dnsmasq;
  let trusted: Started;
  let untrusted: Started;
  let cnn: TlsServer;

  beforeAll(async () => {
    cnn = await tlsServer(CNN, 443, "cnn-over-tls", cnnCert);
    ns = await startDnsmasq({ "edition.cnn.com": [CNN] });
    const yaml = [task("egress-tls-origination__se-dr")];
    const appPort = await freePort();
    const args = ["--dns-servers", ns.server, "--access-log"];
    // The default roots plus the test CA, as a system trust store holding it would be.
    trusted = await startSidecarProcess({ appPort, yaml, args, env: { NODE_EXTRA_CA_CERTS: CA } });
    untrusted = await startSidecarProcess({ appPort, yaml, args });
  });
  afterAll(async () => {
    await trusted?.stop();
    await untrusted?.stop();
    await ns?.stop();
    cnn?.close();
  });

  it("http://edition.cnn.com/politics goes out as HTTPS to 443: verified, SNI = host, Host kept, kept alive", async () => {
    for (let i = 0; i < 3; i++)
      expect(await viaProxy(trusted.outbound, "http://edition.cnn.com/politics")).toMatchObject({
        status: 200,
        body: "cnn-over-tls",
      });
    expect(cnn.seen.at(-1)).toEqual({
      host: "edition.cnn.com",
      url: "/politics",
      sni: "edition.cnn.com",
      client: "",
    });
    // One handshake for three requests: the TLS pool keeps its connection.
    expect(cnn.handshakes).toBe(1);
  });

  it("a server the default roots do not trust: 503 UF, the TLS reason in body and access log, no request sent", async () => {
    const before = cnn.seen.length;
    const r = await viaProxy(untrusted.outbound, "http://edition.cnn.com/politics");
    expect(r.status).toBe(503);
    expect(r.flags).toBe("UF");
    expect(r.body).toMatch(
      /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure, transport failure reason: TLS_error: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY) /,
    );
    expect(cnn.seen.length).toBe(before);
    await expect
      .poll(() => untrusted.running.stdout(), { timeout: 5000 })
      .toMatch(
        /"GET \/politics HTTP\/1\.1" 503 UF .* transport_failure="TLS_error: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY) /,
      );
  });
});

describe("MUTUAL with credentialName and sni (Istio's task), caCertificates and subjectAltNames files", () => {
  let sc: Started;
  let nginx: TlsServer;
  /** One server per host: a failed endpoint (address:port) is down for every host that names it. */
  const files: TlsServer[] = [];
  let filesPort = 0;
  let wrongSanPort = 0;
  let otherCaPort = 0;

  beforeAll(async () => {
    const creds = join(dir, "credentials");
    const client = leaf("sleep-client", "client-ca", ["sleep.default"]);
    mkdirSync(join(creds, "client-credential"), { recursive: true });
    writeFileSync(join(creds, "client-credential", "tls.crt"), client.cert);
    writeFileSync(join(creds, "client-credential", "tls.key"), client.key);
    writeFileSync(join(creds, "client-credential", "ca.crt"), readFileSync(CA));
    nginx = await tlsServer(NGINX, 443, "nginx-mtls", leaf("my-nginx", "server-ca", [NGINX_HOST]), CLIENT_CA);
    [filesPort, wrongSanPort, otherCaPort] = [await freePort(), await freePort(), await freePort()];
    for (const port of [filesPort, wrongSanPort, otherCaPort])
      files.push(await tlsServer(NGINX, port, "files-tls", cnnCert));
    const se = (name: string, host: string, port: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: mesh-external}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  endpoints: [{address: ${NGINX}}]`;
    const dr = (host: string, tls: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host.split(".")[0]}}
spec:
  host: ${host}
  trafficPolicy: {tls: ${tls}}`;
    sc = await startSidecarProcess({
      appPort: await freePort(),
      podLabels: "app=sleep",
      args: ["--credentials-dir", creds, "--access-log"],
      yaml: [
        se("my-nginx", NGINX_HOST, 443),
        task("egress-tls-origination__dr-mtls-workloadselector"),
        se("files", "files.example.com", filesPort),
        dr("files.example.com", `{mode: SIMPLE, caCertificates: ${CA}, subjectAltNames: [edition.cnn.com]}`),
        se("wrongsan", "wrongsan.example.com", wrongSanPort),
        dr("wrongsan.example.com", `{mode: SIMPLE, caCertificates: ${CA}, subjectAltNames: [other.example]}`),
        se("otherca", "otherca.example.com", otherCaPort),
        dr("otherca.example.com", `{mode: SIMPLE, caCertificates: ${OTHER_CA}}`),
        se("nocred", "nocred.example.com", 443),
        dr("nocred.example.com", "{mode: MUTUAL, credentialName: missing-credential}"),
      ],
    });
  });
  afterAll(async () => {
    await sc?.stop();
    nginx?.close();
    for (const f of files) f.close();
  });

  it("the server requires a client certificate and sees the credential's; SNI is the DestinationRule's sni", async () => {
    const r = await viaProxy(sc.outbound, `http://${NGINX_HOST}:443/`);
    expect(r).toMatchObject({ status: 200, body: "nginx-mtls" });
    expect(nginx.seen.at(-1)).toEqual({
      host: `${NGINX_HOST}:443`,
      url: "/",
      sni: NGINX_HOST,
      client: "sleep-client",
    });
  });

  it("caCertificates + subjectAltNames: the certificate names one of them (not the host): 200", async () => {
    const r = await viaProxy(sc.outbound, `http://files.example.com:${filesPort}/f`);
    expect(r).toMatchObject({ status: 200, body: "files-tls" });
    expect(files[0]!.seen.at(-1)).toMatchObject({
      host: `files.example.com:${filesPort}`,
      sni: "files.example.com",
    });
  });

  it("a certificate naming none of subjectAltNames, or from another CA, or a missing credential: 503 UF with the reason", async () => {
    const seen = () => files.reduce((n, f) => n + f.seen.length, nginx.seen.length);
    const before = seen();
    const san = await viaProxy(sc.outbound, `http://wrongsan.example.com:${wrongSanPort}/`);
    expect(san).toMatchObject({ status: 503, flags: "UF" });
    expect(san.body).toContain(
      "TLS_error: server certificate names none of the subjectAltNames other.example",
    );
    const other = await viaProxy(sc.outbound, `http://otherca.example.com:${otherCaPort}/`);
    expect(other).toMatchObject({ status: 503, flags: "UF" });
    expect(other.body).toMatch(
      /TLS_error: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY) /,
    );
    const cred = await viaProxy(sc.outbound, "http://nocred.example.com:443/");
    expect(cred).toMatchObject({ status: 503, flags: "UF" });
    expect(cred.body).toContain('TLS_error: credential "missing-credential": no tls.crt/tls.key/ca.crt');
    expect(seen()).toBe(before);
  });
});
