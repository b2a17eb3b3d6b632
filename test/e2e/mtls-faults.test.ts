/**
 * Issue 15, bad input and faults, on real `lanecar sidecar` processes with real TLS on loopback:
 * every bad peer certificate (expired, not yet valid, another trust domain, self-signed, another
 * CA) refused in both directions — outbound it is `503 UF` with the TLS reason in the body and the
 * access log, counted in istio_requests_total and lanecar_upstream_connect_failures_total; inbound
 * the handshake is refused before the app sees a byte, counted by reason in /config_dump — and
 * every start-up fault of the identity files is one line and exit 1.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxyProcess } from "../../packages/proxy/src/process/proxy-process.js";
import { startSidecar } from "../../packages/proxy/src/process/sidecar.js";
import { type Running, runLanecarToExit, startLanecar } from "../support/lanecar.js";
import {
  BAD_CASES,
  type BadCase,
  badIdentity,
  files,
  goodIdentity,
  keyLeaks,
  newCa,
  plainGet,
  proxyGet,
  tlsGet,
  tmp,
} from "../support/mtls-peers.js";
import { freePorts } from "../support/ports.js";

const BOOKINFO = fileURLToPath(new URL("../../examples/bookinfo/config/shared", import.meta.url));
const quiet = { info: () => {}, error: () => {} };

/** What the client must say about each bad server certificate (Node/OpenSSL codes, our SPIFFE check). */
const OUTBOUND_REASON: Record<BadCase, RegExp> = {
  expired: /TLS_error: CERT_HAS_EXPIRED /,
  "not-yet-valid": /TLS_error: CERT_NOT_YET_VALID /,
  "wrong-trust-domain":
    /TLS_error: .*"spiffe:\/\/other\.example\/ns\/default\/sa\/reviews" is not in trust domain "cluster\.local"/,
  "self-signed": /TLS_error: DEPTH_ZERO_SELF_SIGNED_CERT /,
  // The peer sidecar sends its chain up to its own root, which we do not trust.
  "other-ca": /TLS_error: SELF_SIGNED_CERT_IN_CHAIN /,
};
/** The reason an inbound listener counts for each bad client certificate. */
const INBOUND_REASON: Record<BadCase, string> = {
  expired: "CERT_HAS_EXPIRED",
  "not-yet-valid": "CERT_NOT_YET_VALID",
  "wrong-trust-domain": "SPIFFE_TRUST_DOMAIN",
  "self-signed": "DEPTH_ZERO_SELF_SIGNED_CERT",
  "other-ca": "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
};

let ca = "";
let otherCa = "";
let rootPem = "";
let app: http.Server;
let appPort = 0;
let appSeen: string[] = [];
const bad = {} as Record<BadCase, string>;

beforeAll(async () => {
  // The peers started in this process speak mTLS, which only the HTTP/1.1 codec does; the
  // fallback-data-path project runs this file too (its lanecar processes are forced to h1 as well).
  process.env.LANECAR_DATA_PATH = "h1";
  ca = newCa();
  otherCa = newCa();
  rootPem = files(goodIdentity(ca, "probe")).ca;
  for (const b of BAD_CASES) bad[b] = badIdentity(ca, otherCa, "reviews", b);
  app = http.createServer((req, res) => {
    appSeen.push(`${req.method} ${req.url}`);
    res.end("from-app");
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
  appPort = (app.address() as AddressInfo).port;
});
afterAll(async () => {
  app?.closeAllConnections();
  await new Promise<void>((r) => app?.close(() => r()));
});

/** A host per case, each an ISTIO_MUTUAL ServiceEntry on loopback (`good` is the control). */
function outboundConfig(ports: Record<string, number>): string {
  const dir = tmp();
  const docs = Object.entries(ports).map(
    ([name, port]) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: default }
spec:
  hosts: [${name}.mesh.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${port} } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: default }
spec:
  host: ${name}.mesh.internal
  trafficPolicy:
    tls: { mode: ISTIO_MUTUAL }
`,
  );
  writeFileSync(join(dir, "config.yaml"), docs.join("---\n"));
  return dir;
}

/** A peer presenting the bad certificate: a sidecar where Lanecar can load it, else a TLS server. */
async function badPeer(b: BadCase): Promise<{ port: number; close: () => Promise<void> }> {
  if (b === "wrong-trust-domain" || b === "self-signed" || b === "other-ca") {
    const p: ProxyProcess = await startSidecar({
      config: [BOOKINFO],
      service: "reviews",
      namespace: "default",
      podLabels: { app: "reviews", version: "v1" },
      inbound: "127.0.0.1:0",
      outbound: "127.0.0.1:0",
      app: `http://127.0.0.1:${appPort}`,
      admin: undefined,
      logger: quiet,
      mtls: {
        identityDir: bad[b],
        trustDomain: b === "wrong-trust-domain" ? "other.example" : "cluster.local",
        mode: "STRICT",
      },
    });
    return { port: p.addresses.get("inbound")!.port, close: () => p.close() };
  }
  // Lanecar refuses to load an expired or future certificate at all, so the peer that presents
  // one (a clock skewed peer, a proxy whose renewal failed) is a plain TLS server here.
  const id = files(bad[b]);
  const s = tls.createServer({ ...id, requestCert: true }, (t) => {
    appSeen.push(`bad-peer ${b}`);
    t.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  });
  s.on("tlsClientError", () => {});
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return {
    port: (s.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

/** Sends the start of a TLS record and nothing more; resolves with how long until the server closed. */
function stalledHandshake(port: number): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect({ port, host: "127.0.0.1" }, () => s.write(Buffer.from([0x16, 3, 1, 0, 80, 1])));
    s.on("error", () => {});
    s.on("close", () => resolve(Date.now() - started));
    s.setTimeout(15_000, () => s.destroy());
  });
}

function metric(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

describe("outbound: a sidecar calling peers that present bad certificates (ISTIO_MUTUAL)", () => {
  it("503 UF with the TLS reason in body and access log, counted; the good peer answers", {
    timeout: 60_000,
  }, async () => {
    const peers = await Promise.all(BAD_CASES.map((b) => badPeer(b)));
    const good = await startSidecar({
      config: [BOOKINFO],
      service: "reviews",
      namespace: "default",
      podLabels: { app: "reviews", version: "v1" },
      inbound: "127.0.0.1:0",
      outbound: "127.0.0.1:0",
      app: `http://127.0.0.1:${appPort}`,
      admin: undefined,
      logger: quiet,
      mtls: { identityDir: goodIdentity(ca, "reviews"), trustDomain: "cluster.local", mode: "STRICT" },
    });
    const ports: Record<string, number> = { good: good.addresses.get("inbound")!.port };
    BAD_CASES.forEach((b, i) => {
      ports[b] = peers[i]!.port;
    });
    const [outb, adm] = await freePorts(2);
    const client = goodIdentity(ca, "productpage");
    let sc: Running | undefined;
    try {
      sc = await startLanecar(
        [
          "sidecar",
          "--config",
          outboundConfig(ports),
          "--service",
          "productpage",
          "--inbound",
          "127.0.0.1:0",
          "--outbound",
          `127.0.0.1:${outb}`,
          "--identity-dir",
          client,
          "--access-log",
        ],
        `127.0.0.1:${adm}`,
        { LANECAR_DATA_PATH: "h1" },
      );
      appSeen = [];
      expect(await proxyGet(outb!, "good.mesh.internal:9080", "/ok")).toMatchObject({
        status: 200,
        body: "from-app",
      });
      for (const b of BAD_CASES) {
        const r = await proxyGet(outb!, `${b}.mesh.internal:9080`, `/${b}`);
        expect(r.status, b).toBe(503);
        expect(r.flags, b).toBe("UF");
        expect(r.body, b).toMatch(
          /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure, transport failure reason: /,
        );
        expect(r.body, b).toMatch(OUTBOUND_REASON[b]);
      }
      // Nothing reached any bad peer's app.
      expect(appSeen).toEqual(["GET /ok"]);

      // The access log: one UF line per bad peer, with the reason.
      let log: string[] = [];
      for (let i = 0; i < 100 && log.length < BAD_CASES.length; i++) {
        log = sc
          .stdout()
          .split("\n")
          .filter((l) => / outbound "GET \/\S+ HTTP\/1\.1" 503 UF /.test(l));
        if (log.length < BAD_CASES.length) await new Promise((r) => setTimeout(r, 50));
      }
      for (const b of BAD_CASES) {
        const line = log.find((l) => l.includes(`"GET /${b} HTTP/1.1"`));
        expect(line, b).toMatch(/ transport_failure="TLS_error: [^"\n]+"$/);
        // Quotes inside the reason are written %22, so the field stays one quoted token.
        const reason = line!.slice(line!.indexOf("transport_failure=")).replaceAll("%22", '"');
        expect(reason, b).toMatch(OUTBOUND_REASON[b]);
      }

      // Counted: istio_requests_total by flag, and the connection failures by kind.
      const metrics = await (await fetch(`http://127.0.0.1:${adm}/metrics`)).text();
      expect(metric(metrics, "istio_requests_total", { response_flags: "UF", response_code: "503" })).toBe(
        BAD_CASES.length,
      );
      expect(
        metric(metrics, "lanecar_upstream_connect_failures_total", { reason: "tls" }),
      ).toBeGreaterThanOrEqual(BAD_CASES.length);
      expect(metric(metrics, "lanecar_upstream_connect_failures_total", { reason: "connect" })).toBe(0);
      expect(keyLeaks(sc.stdout() + sc.stderr() + metrics, files(client).key)).toEqual([]);
    } finally {
      if (sc) expect(await sc.stop()).toBe(0);
      await good.close();
      await Promise.all(peers.map((p) => p.close()));
    }
  });
});

describe("inbound: clients presenting bad certificates", () => {
  for (const mode of ["STRICT", "PERMISSIVE"] as const) {
    it(`${mode}: every bad certificate and a missing one refused, counted by reason; good ones served`, async () => {
      const [inb, outb, adm] = await freePorts(3);
      const server = goodIdentity(ca, "reviews");
      const sc = await startLanecar(
        [
          "sidecar",
          "--config",
          BOOKINFO,
          "--service",
          "reviews",
          "--app",
          `http://127.0.0.1:${appPort}`,
          "--inbound",
          `127.0.0.1:${inb}`,
          "--outbound",
          `127.0.0.1:${outb}`,
          "--identity-dir",
          server,
          "--mtls-mode",
          mode,
          "--headers-timeout",
          "1s",
        ],
        `127.0.0.1:${adm}`,
        { LANECAR_DATA_PATH: "h1" },
      );
      try {
        appSeen = [];
        // A handshake that starts and stalls is closed at the header deadline (generous bound).
        const stalled = await stalledHandshake(inb!);
        expect(stalled).toBeLessThan(8000);
        for (const b of BAD_CASES) {
          const r = await tlsGet(inb!, bad[b], rootPem, `/${b}`);
          expect(r.status, b).toBe("");
        }
        const none = await tlsGet(inb!, undefined, rootPem, "/no-cert");
        expect(none.status).toBe("");
        expect(none.error).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
        expect(appSeen).toEqual([]);
        // A good client is served; plaintext only where PERMISSIVE.
        const ok = await tlsGet(inb!, goodIdentity(ca, "productpage"), rootPem, "/good");
        expect(ok.status).toBe("HTTP/1.1 200 OK");
        expect(await plainGet(inb!, "/plain")).toBe(mode === "PERMISSIVE" ? "HTTP/1.1 200 OK" : "");
        expect(appSeen).toEqual(mode === "PERMISSIVE" ? ["GET /good", "GET /plain"] : ["GET /good"]);

        const dump = await (await fetch(`http://127.0.0.1:${adm}/config_dump`)).text();
        const wc = JSON.parse(dump).workloadCertificate;
        const reasons: Record<string, number> = {
          ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: 1,
          ERR_TLS_HANDSHAKE_TIMEOUT: 1,
        };
        for (const b of BAD_CASES) reasons[INBOUND_REASON[b]] = 1;
        expect(wc.handshakes).toMatchObject({ completed: 1, refused: BAD_CASES.length + 2, reasons });
        expect(wc.handshakes.last).toMatch(
          / ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE from 127\.0\.0\.1:\d+$/,
        );
        expect(wc.accepted).toMatchObject({
          tls: BAD_CASES.length + 3,
          plaintext: mode === "PERMISSIVE" ? 1 : 0,
          refused: mode === "STRICT" ? 1 : 0,
        });
        expect(keyLeaks(dump + sc.stdout() + sc.stderr(), files(server).key)).toEqual([]);
      } finally {
        expect(await sc.stop()).toBe(0);
      }
    });
  }
});

describe("start-up faults of the identity: one line, exit 1", () => {
  /** `lanecar sidecar --identity-dir dir ...`, expected to fail at start. */
  function start(dir: string, ...more: string[]) {
    return runLanecarToExit(
      [
        "sidecar",
        "--config",
        BOOKINFO,
        "--service",
        "reviews",
        "--inbound",
        "127.0.0.1:0",
        "--outbound",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--identity-dir",
        dir,
        ...more,
      ],
      { LANECAR_DATA_PATH: "h1" },
    );
  }

  it("each file missing or unreadable, a broken or mismatched set, an expired cert, another identity", {
    timeout: 90_000,
  }, async () => {
    const cases: { name: string; dir: string; more?: string[]; want: string; key?: string }[] = [];
    for (const f of ["cert.pem", "key.pem", "root-cert.pem"]) {
      const dir = goodIdentity(ca, "reviews");
      rmSync(join(dir, f));
      cases.push({ name: `${f} missing`, dir, want: `${join(dir, f)}: missing` });
      // Running as root, a mode cannot make a file unreadable; a directory in its place can.
      const dir2 = goodIdentity(ca, "reviews");
      rmSync(join(dir2, f));
      mkdirSync(join(dir2, f));
      cases.push({ name: `${f} unreadable`, dir: dir2, want: `${join(dir2, f)}: unreadable (EISDIR)` });
    }
    const garbage = goodIdentity(ca, "reviews");
    writeFileSync(join(garbage, "cert.pem"), "not a certificate\n");
    cases.push({
      name: "garbage",
      dir: garbage,
      want: `${join(garbage, "cert.pem")}: no PEM certificate in it`,
    });
    const mismatched = goodIdentity(ca, "reviews");
    writeFileSync(join(mismatched, "key.pem"), files(goodIdentity(ca, "other")).key);
    cases.push({
      name: "mismatch",
      dir: mismatched,
      want: `${join(mismatched, "key.pem")} does not match cert.pem`,
    });
    cases.push({ name: "expired", dir: bad.expired, want: `${join(bad.expired, "cert.pem")} expired at ` });
    cases.push({
      name: "trust domain",
      dir: bad["wrong-trust-domain"],
      want: `${join(bad["wrong-trust-domain"], "cert.pem")}: names trust domain "other.example", not --trust-domain "cluster.local"`,
    });
    const sa = goodIdentity(ca, "reviews");
    cases.push({
      name: "service account",
      dir: sa,
      more: ["--service-account", "ratings"],
      want: `${join(sa, "cert.pem")}: names spiffe://cluster.local/ns/default/sa/reviews, not spiffe://cluster.local/ns/default/sa/ratings (--namespace, --service-account)`,
    });
    cases.push({
      name: "namespace",
      dir: sa,
      more: ["--service-account", "reviews", "--namespace", "prod"],
      want: "not spiffe://cluster.local/ns/prod/sa/reviews",
    });
    for (const c of cases) {
      try {
        c.key = files(c.dir).key;
      } catch {
        // key.pem is the missing or unreadable file
      }
    }
    // A few processes at a time: the machine is shared.
    const results: { code: number | null; stderr: string }[] = [];
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4);
      results.push(...(await Promise.all(batch.map((c) => start(c.dir, ...(c.more ?? []))))));
    }
    cases.forEach((c, i) => {
      const r = results[i]!;
      expect(r.code, c.name).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines, c.name).toHaveLength(1);
      expect(lines[0]!.startsWith("lanecar sidecar: "), c.name).toBe(true);
      expect(lines[0], c.name).toContain(c.want);
      if (c.key) expect(keyLeaks(r.stderr, c.key), c.name).toEqual([]);
    });
  });

  it("--service-account matching the certificate starts; the gateway checks it too", {
    timeout: 60_000,
  }, async () => {
    const [adm] = await freePorts(1);
    const sc = await startLanecar(
      [
        "sidecar",
        "--config",
        BOOKINFO,
        "--service",
        "reviews",
        "--inbound",
        "127.0.0.1:0",
        "--outbound",
        "127.0.0.1:0",
        "--identity-dir",
        goodIdentity(ca, "reviews"),
        "--service-account",
        "reviews",
      ],
      `127.0.0.1:${adm}`,
      { LANECAR_DATA_PATH: "h1" },
    );
    expect(sc.stderr()).toContain("identity spiffe://cluster.local/ns/default/sa/reviews");
    expect(await sc.stop()).toBe(0);
    // The gateway takes the flag too (SPEC 12: sidecar|gateway).
    const sa = goodIdentity(ca, "istio-ingressgateway");
    const gw = await runLanecarToExit(
      [
        "gateway",
        "--config",
        BOOKINFO,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--identity-dir",
        sa,
        "--namespace",
        "istio-system",
        "--service-account",
        "istio-ingressgateway",
      ],
      { LANECAR_DATA_PATH: "h1" },
    );
    expect(gw.code).toBe(1);
    expect(gw.stderr.trim()).toBe(
      `lanecar gateway: ${join(sa, "cert.pem")}: names spiffe://cluster.local/ns/default/sa/istio-ingressgateway, not spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway (--namespace, --service-account)`,
    );
    // Not a service account name at all: a usage error (exit 2), one line.
    const r = await start(goodIdentity(ca, "reviews"), "--service-account", "Bad_SA");
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'lanecar sidecar: --service-account "Bad_SA" is not a valid service account name',
    );
  });
});
