/**
 * Issue 15 "done when": an independent client — Debian's `openssl s_client` — against a real
 * `lanecar sidecar` process with a STRICT inbound. It sees the SPIFFE ID in the server
 * certificate (read back with `openssl x509 -text`), is refused with an alert and no application
 * data without a client certificate, gets nothing with an expired one, and gets `HTTP/1.1 200`
 * over the TLS connection with a certificate from the mesh root.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Running, startLanecar } from "../support/lanecar.js";
import { badIdentity, goodIdentity, newCa } from "../support/mtls-peers.js";
import { freePorts } from "../support/ports.js";

const BOOKINFO = fileURLToPath(new URL("../../examples/bookinfo/config/shared", import.meta.url));

function run(cmd: string, args: string[], stdin: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
    child.stdin!.end(stdin);
  });
}

const REQUEST = "GET /via-openssl HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n";

function sClient(port: number, ...more: string[]) {
  return run(
    "openssl",
    ["s_client", "-connect", `127.0.0.1:${port}`, "-showcerts", "-ign_eof", ...more],
    REQUEST,
  );
}

let app: http.Server;
let appSeen: string[] = [];
let ca = "";
let server = "";
let sc: Running;
let inb = 0;
let adm = 0;

beforeAll(async () => {
  app = http.createServer((req, res) => {
    appSeen.push(`${req.method} ${req.url}`);
    res.end("from-app");
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
  ca = newCa();
  server = goodIdentity(ca, "reviews");
  let outb: number | undefined;
  [inb, outb, adm] = (await freePorts(3)) as [number, number, number];
  sc = await startLanecar(
    [
      "sidecar",
      "--config",
      BOOKINFO,
      "--service",
      "reviews",
      "--app",
      `http://127.0.0.1:${(app.address() as AddressInfo).port}`,
      "--inbound",
      `127.0.0.1:${inb}`,
      "--outbound",
      `127.0.0.1:${outb}`,
      "--identity-dir",
      server,
      "--mtls-mode",
      "STRICT",
    ],
    `127.0.0.1:${adm}`,
    { LANECAR_DATA_PATH: "h1" },
  );
});
afterAll(async () => {
  if (sc) expect(await sc.stop()).toBe(0);
  app?.closeAllConnections();
  await new Promise<void>((r) => app?.close(() => r()));
});

describe("openssl s_client against a STRICT inbound", () => {
  it("without a client certificate: sees the SPIFFE certificate, refused with an alert, no data", async () => {
    appSeen = [];
    const r = await sClient(inb, "-CAfile", join(server, "root-cert.pem"));
    // The server's certificate chain verified against the mesh root...
    expect(r.out).toContain("Verify return code: 0 (ok)");
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(r.out)?.[0];
    expect(leaf).toBeDefined();
    const text = await run("openssl", ["x509", "-noout", "-text"], leaf!);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(
      /X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews\s/,
    );
    // ...then the server refused: TLS 1.3's certificate_required alert, no application data.
    expect(r.out).toMatch(/alert certificate required|SSL alert number 116/);
    expect(r.out).not.toContain("HTTP/1.1");
    expect(appSeen).toEqual([]);
  });

  it("with an expired client certificate from the root: nothing served, counted", async () => {
    appSeen = [];
    const expired = badIdentity(ca, newCa(), "productpage", "expired");
    const r = await sClient(
      inb,
      "-cert",
      join(expired, "cert.pem"),
      "-key",
      join(expired, "key.pem"),
      "-CAfile",
      join(server, "root-cert.pem"),
    );
    expect(r.out).not.toContain("HTTP/1.1");
    expect(r.out).not.toContain("from-app");
    expect(appSeen).toEqual([]);
    const dump = (await (await fetch(`http://127.0.0.1:${adm}/config_dump`)).json()) as {
      workloadCertificate: { handshakes: { reasons: Record<string, number> } };
    };
    expect(dump.workloadCertificate.handshakes.reasons).toMatchObject({ CERT_HAS_EXPIRED: 1 });
  });

  it("with a client certificate from the mesh root: HTTP/1.1 200 over the TLS connection", async () => {
    appSeen = [];
    const client = goodIdentity(ca, "productpage");
    const r = await sClient(
      inb,
      "-cert",
      join(client, "cert.pem"),
      "-key",
      join(client, "key.pem"),
      "-CAfile",
      join(client, "root-cert.pem"),
      "-verify_return_error",
    );
    expect(r.out).toContain("Verify return code: 0 (ok)");
    expect(r.out).toMatch(/HTTP\/1\.1 200 OK\r?\n[\s\S]*from-app/);
    expect(appSeen).toEqual(["GET /via-openssl"]);
  });
});
