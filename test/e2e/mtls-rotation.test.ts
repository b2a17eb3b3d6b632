/**
 * Issue 15, rotation on real `lanecar sidecar` processes: a client sidecar (ISTIO_MUTUAL) and a
 * STRICT server sidecar exchange requests continuously while both identities rotate — the
 * server's by Kubernetes' atomic `..data` symlink swap (projected volumes, cert-manager's csi
 * driver), the client's by a plain rewrite of cert.pem then key.pem — with zero failed requests;
 * new connections then present the new certificates (fingerprints seen by the peers). Rotations
 * to a broken set (garbage, a key that does not match, an expired certificate, another service
 * account) keep the last good identity, say so in /config_dump and warn once in the log. No
 * private key appears in any output or admin endpoint.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Running, startLanecar } from "../support/lanecar.js";
import {
  badIdentity,
  files,
  goodIdentity,
  keyLeaks,
  newCa,
  proxyGet,
  tlsGet,
  tmp,
} from "../support/mtls-peers.js";
import { freePorts } from "../support/ports.js";

const BOOKINFO = fileURLToPath(new URL("../../examples/bookinfo/config/shared", import.meta.url));
const FILES = ["cert.pem", "key.pem", "root-cert.pem"] as const;
type IdFiles = Record<(typeof FILES)[number], string>;

function read(dir: string): IdFiles {
  const f = files(dir);
  return { "cert.pem": f.cert, "key.pem": f.key, "root-cert.pem": f.ca };
}

function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** A projected-volume directory as the kubelet writes it: `..<ts>/`, `..data` → it, links to `..data/*`. */
let generation = 0;
function projectedWrite(dir: string, f: IdFiles): void {
  const ts = `..${Date.now()}_${++generation}`;
  mkdirSync(join(dir, ts), { recursive: true });
  for (const n of FILES) writeFileSync(join(dir, ts, n), f[n], { mode: 0o600 });
  symlinkSync(ts, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data")); // the atomic swap
}
function projected(f: IdFiles): string {
  const dir = tmp("lanecar-projected-");
  projectedWrite(dir, f);
  for (const n of FILES) symlinkSync(join("..data", n), join(dir, n));
  return dir;
}

let ca = "";
let app: http.Server;
let appPort = 0;
let witness: tls.Server;
let witnessPort = 0;
/** Fingerprints of the client certificates the witness saw, one per connection. */
const witnessSaw: string[] = [];

beforeAll(async () => {
  ca = newCa();
  app = http.createServer((_req, res) => res.end("from-app"));
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
  appPort = (app.address() as AddressInfo).port;
  // Another mTLS peer of the client that records the certificate each new connection presents
  // (it closes every connection, so each request is a new handshake).
  const w = files(goodIdentity(ca, "witness"));
  witness = tls.createServer(
    { cert: w.cert, key: w.key, ca: w.ca, requestCert: true, rejectUnauthorized: true },
    (t) => {
      witnessSaw.push(t.getPeerX509Certificate()!.fingerprint256);
      t.once("data", () => t.end("HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nwitness"));
    },
  );
  await new Promise<void>((r) => witness.listen(0, "127.0.0.1", () => r()));
  witnessPort = (witness.address() as AddressInfo).port;
});
afterAll(async () => {
  app?.closeAllConnections();
  await new Promise<void>((r) => app?.close(() => r()));
  await new Promise<void>((r) => witness?.close(() => r()));
});

function clientConfig(serverPort: number): string {
  const dir = tmp();
  const entry = (name: string, port: number) => `apiVersion: networking.istio.io/v1
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
`;
  writeFileSync(
    join(dir, "config.yaml"),
    `${entry("reviews", serverPort)}---\n${entry("witness", witnessPort)}`,
  );
  return dir;
}

async function dump(
  admin: number,
): Promise<{ fingerprint256: string; rotations: number; lastError: string | null }> {
  const body = (await (await fetch(`http://127.0.0.1:${admin}/config_dump`)).json()) as {
    workloadCertificate: { fingerprint256: string; rotations: number; lastError: string | null };
  };
  return body.workloadCertificate;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("identity rotation between two sidecar processes", () => {
  it("under load: zero failed requests, new connections use the new certificates; broken rotations keep the last good one", {
    timeout: 120_000,
  }, async () => {
    const serverOld = read(goodIdentity(ca, "reviews"));
    const serverDir = projected(serverOld);
    const clientDir = goodIdentity(ca, "productpage");
    const clientOld = read(clientDir);
    const [inb, sOut, sAdm, cOut, cAdm] = (await freePorts(5)) as [number, number, number, number, number];
    const keys: string[] = [serverOld["key.pem"], clientOld["key.pem"]];
    let server: Running | undefined;
    let client: Running | undefined;
    try {
      [server, client] = await Promise.all([
        startLanecar(
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
            `127.0.0.1:${sOut}`,
            "--identity-dir",
            serverDir,
            "--mtls-mode",
            "STRICT",
            "--service-account",
            "reviews",
            "--access-log",
          ],
          `127.0.0.1:${sAdm}`,
          { LANECAR_DATA_PATH: "h1" },
        ),
        startLanecar(
          [
            "sidecar",
            "--config",
            clientConfig(inb),
            "--service",
            "productpage",
            "--outbound",
            `127.0.0.1:${cOut}`,
            "--inbound",
            "127.0.0.1:0",
            "--identity-dir",
            clientDir,
            "--access-log",
          ],
          `127.0.0.1:${cAdm}`,
          { LANECAR_DATA_PATH: "h1" },
        ),
      ]);
      expect((await proxyGet(cOut, "witness.mesh.internal:9080")).status).toBe(200);
      expect(witnessSaw).toEqual([fingerprint(clientOld["cert.pem"])]);

      // ---- load across the rotation of both -------------------------------------------------
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const failures: string[] = [];
      let done = 0;
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const r = await proxyGet(cOut, "reviews.mesh.internal:9080", "/load", agent).catch((e: Error) => ({
            status: 0,
            body: e.message,
            flags: "",
          }));
          if (r.status !== 200) failures.push(`${r.status} ${r.flags} ${r.body}`);
          done++;
        }
      };
      const workers = [worker(), worker(), worker(), worker()];
      const startedAt = Date.now();
      await new Promise((r) => setTimeout(r, 500));
      const serverNew = read(goodIdentity(ca, "reviews"));
      const cNewDir = goodIdentity(ca, "productpage");
      const clientNew = read(cNewDir);
      keys.push(serverNew["key.pem"], clientNew["key.pem"]);
      projectedWrite(serverDir, serverNew);
      // The plain rewrite: for a moment cert.pem is new and key.pem old (refused, not warned).
      writeFileSync(join(clientDir, "cert.pem"), clientNew["cert.pem"]);
      await new Promise((r) => setTimeout(r, 20));
      writeFileSync(join(clientDir, "key.pem"), clientNew["key.pem"]);
      await until("both rotations", async () => {
        const [s, c] = await Promise.all([dump(sAdm), dump(cAdm)]);
        return s.rotations === 1 && c.rotations === 1;
      });
      // Keep the load on a little after the rotations, then stop (bounded: ~3 s or so in all).
      await new Promise((r) => setTimeout(r, Math.max(500, 3000 - (Date.now() - startedAt))));
      stop = true;
      await Promise.all(workers);
      agent.destroy();
      console.log(
        `rotation under load: ${done} requests in ${Date.now() - startedAt} ms, ${failures.length} failed`,
      );
      expect(failures).toEqual([]);
      expect(done).toBeGreaterThan(50);

      const [s1, c1] = await Promise.all([dump(sAdm), dump(cAdm)]);
      expect(s1).toMatchObject({ fingerprint256: fingerprint(serverNew["cert.pem"]), lastError: null });
      expect(c1).toMatchObject({ fingerprint256: fingerprint(clientNew["cert.pem"]), lastError: null });
      // New connections: the server presents its new certificate and accepts the client's new one...
      const fresh = await tlsGet(inb, cNewDir, clientNew["root-cert.pem"], "/fresh");
      expect(fresh.status).toBe("HTTP/1.1 200 OK");
      expect(fresh.peer).toBe(fingerprint(serverNew["cert.pem"]));
      // ...and the client presents its new one to a peer it connects to anew.
      expect((await proxyGet(cOut, "witness.mesh.internal:9080")).status).toBe(200);
      expect(witnessSaw.at(-1)).toBe(fingerprint(clientNew["cert.pem"]));
      // The transient mismatch of the plain rewrite was not worth a warning.
      expect(client.stderr()).not.toContain("not rotated");

      // ---- broken rotations of the server: the last good identity keeps serving ----------------
      const expired = read(badIdentity(ca, newCa(), "reviews", "expired"));
      const other = read(goodIdentity(ca, "ratings"));
      const mismatched = {
        ...read(goodIdentity(ca, "reviews")),
        "key.pem": read(goodIdentity(ca, "reviews"))["key.pem"],
      };
      keys.push(expired["key.pem"], other["key.pem"], mismatched["key.pem"]);
      const broken: { name: string; files: IdFiles; want: string }[] = [
        {
          name: "garbage",
          files: { ...serverNew, "cert.pem": "garbage\n" },
          want: "cert.pem: no PEM certificate in it",
        },
        { name: "key mismatch", files: mismatched, want: "key.pem does not match cert.pem" },
        { name: "expired", files: expired, want: "cert.pem expired at " },
        {
          name: "another service account",
          files: other,
          want: "names spiffe://cluster.local/ns/default/sa/ratings, not spiffe://cluster.local/ns/default/sa/reviews",
        },
      ];
      for (const b of broken) {
        projectedWrite(serverDir, b.files);
        let d = await dump(sAdm);
        await until(`lastError for ${b.name}`, async () => {
          d = await dump(sAdm);
          return d.lastError?.includes(b.want) ?? false;
        });
        expect(d.fingerprint256, b.name).toBe(fingerprint(serverNew["cert.pem"]));
        expect(d.rotations, b.name).toBe(1);
        expect(d.lastError!.endsWith(`; still serving ${d.fingerprint256}`), b.name).toBe(true);
        // Still served, with the last good certificate.
        const r = await tlsGet(inb, cNewDir, clientNew["root-cert.pem"], "/still");
        expect(r.status, b.name).toBe("HTTP/1.1 200 OK");
        expect(r.peer, b.name).toBe(fingerprint(serverNew["cert.pem"]));
        // Warned once (once it outlived a poll), however many polls see it.
        await until(`warning for ${b.name}`, async () => server!.stderr().includes(b.want));
        await new Promise((r) => setTimeout(r, 1200));
        const warnings = server
          .stderr()
          .split("\n")
          .filter((l) => l.includes("not rotated") && l.includes(b.want));
        expect(warnings, b.name).toHaveLength(1);
        expect(warnings[0], b.name).toContain(
          `still serving spiffe://cluster.local/ns/default/sa/reviews (${d.fingerprint256})`,
        );
      }
      // A good set again: taken, the error cleared.
      const latest = read(goodIdentity(ca, "reviews"));
      keys.push(latest["key.pem"]);
      projectedWrite(serverDir, latest);
      await until("the good set after the broken ones", async () => (await dump(sAdm)).rotations === 2);
      expect(await dump(sAdm)).toMatchObject({
        fingerprint256: fingerprint(latest["cert.pem"]),
        lastError: null,
      });
      expect(server.stderr()).toContain(
        `identity rotated: spiffe://cluster.local/ns/default/sa/reviews (${fingerprint(latest["cert.pem"])})`,
      );

      // ---- no key anywhere: process output and every admin endpoint of both -------------------
      let seen = server.stdout() + server.stderr() + client.stdout() + client.stderr();
      for (const adm of [sAdm, cAdm])
        for (const path of [
          "/ready",
          "/healthz",
          "/metrics",
          "/config_dump",
          "/clusters",
          "/clusters?format=json",
          "/nope",
        ])
          seen += await (await fetch(`http://127.0.0.1:${adm}${path}`)).text();
      expect(seen).toContain(fingerprint(latest["cert.pem"])); // the outputs are really in `seen`
      for (const k of keys) expect(keyLeaks(seen, k)).toEqual([]);
    } finally {
      if (client) expect(await client.stop()).toBe(0);
      if (server) expect(await server.stop()).toBe(0);
    }
  });
});
