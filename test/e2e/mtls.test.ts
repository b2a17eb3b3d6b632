/**
 * Issue 15, mutual TLS on a real `lanecar sidecar` process: `--identity-dir` with a missing set
 * is a one-line error (exit 1), the node:http fallback refuses TLS instead of serving plaintext,
 * and a STRICT inbound serves mTLS, refuses plaintext and shows its identity in /config_dump.
 * (The data path itself is tested in packages/proxy/test/identity/mtls.test.ts.)
 */
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCa, issueWorkload, loadWorkloadCert } from "../../packages/proxy/src/identity/index.js";
import { startApp, type TestApp } from "../support/apps.js";
import { runLanecarToExit, startLanecar } from "../support/lanecar.js";
import { freePort, freePorts } from "../support/ports.js";

const CONFIG = fileURLToPath(new URL("../../examples/bookinfo/config/shared", import.meta.url));

/** `lanecar sidecar` with `args`, expected to fail at start. */
function runFailing(args: string[], env: Record<string, string>) {
  return runLanecarToExit(
    ["sidecar", "--config", CONFIG, "--service", "reviews", "--inbound", "127.0.0.1:0", ...args],
    env,
  );
}

let app: TestApp;
let appPort = 0;
let ca = "";
let server = "";
let client = "";

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-mtls-e2e-"));
  ca = join(dir, "ca");
  initCa(ca);
  server = join(dir, "reviews");
  client = join(dir, "productpage");
  issueWorkload(ca, server, { namespace: "default", serviceAccount: "reviews", ttlMs: 3600_000 });
  issueWorkload(ca, client, { namespace: "default", serviceAccount: "productpage", ttlMs: 3600_000 });
  appPort = await freePort();
  app = await startApp({ service: "reviews", version: "v1", port: appPort });
});
afterAll(async () => {
  await app?.close();
});

function get(port: number, withCert: boolean): Promise<string> {
  return new Promise((resolve) => {
    const c = loadWorkloadCert(client);
    const s = withCert
      ? tls.connect({
          port,
          host: "127.0.0.1",
          cert: c.certPem,
          key: c.keyPem,
          ca: c.rootPem,
          checkServerIdentity: () => undefined,
        })
      : net.connect({ port, host: "127.0.0.1" });
    let out = "";
    s.on(withCert ? "secureConnect" : "connect", () =>
      s.write("GET /x HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n"),
    );
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(out.split("\r\n")[0]!));
  });
}

describe("lanecar sidecar --identity-dir", () => {
  it("a missing identity is a one-line error, exit 1", async () => {
    const r = await runFailing(["--identity-dir", "/nonexistent-lanecar-id"], { LANECAR_DATA_PATH: "h1" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("lanecar sidecar: /nonexistent-lanecar-id/cert.pem: missing");
  });

  it("the node:http fallback refuses to start with TLS configured (no silent plaintext)", async () => {
    const r = await runFailing(["--identity-dir", server], { LANECAR_DATA_PATH: "node" });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(
      "mutual TLS runs only on Lanecar's HTTP/1.1 codec, not on the node:http fallback",
    );
  });

  it("STRICT inbound: mTLS served, plaintext refused, identity in /config_dump (no key)", async () => {
    const [inb, outb, adm] = await freePorts(3);
    const sc = await startLanecar(
      [
        "sidecar",
        "--config",
        CONFIG,
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
        "STRICT",
      ],
      `127.0.0.1:${adm}`,
      { LANECAR_DATA_PATH: "h1" },
    );
    try {
      expect(await get(inb!, true)).toBe("HTTP/1.1 200 OK");
      expect(await get(inb!, false)).toBe("");
      const dump = await (await fetch(`http://127.0.0.1:${adm}/config_dump`)).text();
      expect(JSON.parse(dump).workloadCertificate).toMatchObject({
        spiffeId: "spiffe://cluster.local/ns/default/sa/reviews",
        fingerprint256: loadWorkloadCert(server).fingerprint256,
        inboundMode: "STRICT",
      });
      expect(dump).not.toContain("PRIVATE KEY");
      expect(sc.stderr()).toContain("identity spiffe://cluster.local/ns/default/sa/reviews");
    } finally {
      expect(await sc.stop()).toBe(0);
    }
  });
});
