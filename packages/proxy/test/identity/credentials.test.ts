/**
 * The credential store (`--credentials-dir`, `credentialName`): Secret-as-files in both spellings,
 * the separate `<name>-cacert` folder, re-read on change only, and one-line errors for every broken
 * set (never the key's content).
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialError, CredentialStore } from "../../src/identity/credentials.js";
import { initCa, issueWorkload } from "../../src/identity/index.js";

const HOUR = 3600_000;

/** Two workload identities from one root, as PEM files (a stand-in for any TLS pair). */
function pairs(): { root: string; a: string; b: string } {
  const base = mkdtempSync(join(tmpdir(), "lanecar-cred-"));
  initCa(join(base, "ca"));
  issueWorkload(join(base, "ca"), join(base, "a"), { namespace: "ns", serviceAccount: "a", ttlMs: HOUR });
  issueWorkload(join(base, "ca"), join(base, "b"), { namespace: "ns", serviceAccount: "b", ttlMs: HOUR });
  return { root: base, a: join(base, "a"), b: join(base, "b") };
}

function secret(dir: string, name: string, files: Record<string, string>): void {
  mkdirSync(join(dir, name), { recursive: true });
  for (const [f, src] of Object.entries(files)) copyFileSync(src, join(dir, name, f));
}

describe("CredentialStore", () => {
  it("reads a kubernetes.io/tls Secret's files (tls.crt, tls.key, ca.crt)", () => {
    const p = pairs();
    const dir = join(p.root, "creds");
    secret(dir, "gw", {
      "tls.crt": join(p.a, "cert.pem"),
      "tls.key": join(p.a, "key.pem"),
      "ca.crt": join(p.a, "root-cert.pem"),
    });
    const c = new CredentialStore(dir).get("gw");
    expect(c.certPem).toBe(readFileSync(join(p.a, "cert.pem"), "utf8"));
    expect(c.keyPem).toBe(readFileSync(join(p.a, "key.pem"), "utf8"));
    expect(c.caPem).toBe(readFileSync(join(p.a, "root-cert.pem"), "utf8"));
    expect(c.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it("reads Istio's generic Secret keys (cert, key, cacert) and a CA from <name>-cacert", () => {
    const p = pairs();
    const dir = join(p.root, "creds");
    secret(dir, "generic", {
      cert: join(p.a, "cert.pem"),
      key: join(p.a, "key.pem"),
      cacert: join(p.a, "root-cert.pem"),
    });
    secret(dir, "split", { "tls.crt": join(p.b, "cert.pem"), "tls.key": join(p.b, "key.pem") });
    secret(dir, "split-cacert", { "ca.crt": join(p.b, "root-cert.pem") });
    secret(dir, "ca-only", { "ca.crt": join(p.b, "root-cert.pem") });
    const store = new CredentialStore(dir);
    expect(store.get("generic").caPem).toContain("BEGIN CERTIFICATE");
    expect(store.get("split").caPem).toBe(readFileSync(join(p.b, "root-cert.pem"), "utf8"));
    const caOnly = store.get("ca-only");
    expect(caOnly.certPem).toBeUndefined();
    expect(caOnly.caPem).toContain("BEGIN CERTIFICATE");
  });

  it("returns the same object until a file changes, then the new content", () => {
    const p = pairs();
    const dir = join(p.root, "creds");
    secret(dir, "gw", { "tls.crt": join(p.a, "cert.pem"), "tls.key": join(p.a, "key.pem") });
    const store = new CredentialStore(dir);
    const first = store.get("gw");
    expect(store.get("gw")).toBe(first);
    copyFileSync(join(p.b, "cert.pem"), join(dir, "gw", "tls.crt"));
    copyFileSync(join(p.b, "key.pem"), join(dir, "gw", "tls.key"));
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, "gw", "tls.crt"), later, later);
    const second = store.get("gw");
    expect(second).not.toBe(first);
    expect(second.fingerprint256).not.toBe(first.fingerprint256);
  });

  it("refuses broken sets with one line that never holds the key", () => {
    const p = pairs();
    const dir = join(p.root, "creds");
    const key = readFileSync(join(p.a, "key.pem"), "utf8");
    secret(dir, "mismatch", { "tls.crt": join(p.a, "cert.pem"), "tls.key": join(p.b, "key.pem") });
    secret(dir, "nokey", { "tls.crt": join(p.a, "cert.pem") });
    mkdirSync(join(dir, "garbage"));
    writeFileSync(join(dir, "garbage", "tls.crt"), "not a certificate\n");
    copyFileSync(join(p.a, "key.pem"), join(dir, "garbage", "tls.key"));
    mkdirSync(join(dir, "badkey"));
    copyFileSync(join(p.a, "cert.pem"), join(dir, "badkey", "tls.crt"));
    writeFileSync(
      join(dir, "badkey", "tls.key"),
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    const store = new CredentialStore(dir);
    const cases: [string, RegExp][] = [
      ["mismatch", /tls\.key does not belong to the certificate/],
      ["nokey", /a certificate without a key/],
      ["garbage", /tls\.crt is not a PEM certificate/],
      ["badkey", /tls\.key is not a PEM private key/],
      ["absent", /no tls\.crt\/tls\.key\/ca\.crt/],
      ["../etc", /is not a valid Secret name/],
    ];
    for (const [name, want] of cases) {
      let err: unknown;
      try {
        store.get(name);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(CredentialError);
      const msg = (err as Error).message;
      expect(msg, name).toMatch(want);
      expect(msg).not.toContain("\n");
      expect(msg).not.toContain(key.split("\n")[1]!);
    }
    rmSync(p.root, { recursive: true, force: true });
  });
});
