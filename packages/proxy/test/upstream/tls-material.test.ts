/**
 * Origination material (upstream/tls-material.ts): contexts built from the DestinationRule's files
 * or a credential, kept while nothing changed, rebuilt (and resumable sessions dropped) when a
 * file did, and one-line errors that name the file or credential, never key material.
 */
import { mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/identity/credentials.js";
import { initCa, issueWorkload } from "../../src/identity/index.js";
import { OriginationMaterial } from "../../src/upstream/tls-material.js";

const dir = mkdtempSync(join(tmpdir(), "lanecar-tls-material-"));
initCa(join(dir, "ca"));
issueWorkload(join(dir, "ca"), join(dir, "client"), { namespace: "x", serviceAccount: "c", ttlMs: 3600_000 });
const CA = join(dir, "ca", "root-cert.pem");
const CERT = join(dir, "client", "cert.pem");
const KEY = join(dir, "client", "key.pem");

describe("origination material", () => {
  it("files: one context while unchanged; a changed file rebuilds it and drops sessions", () => {
    const ca = join(dir, "ca-copy.pem");
    writeFileSync(ca, readFileSync(CA));
    let changes = 0;
    const m = new OriginationMaterial(
      { mode: "MUTUAL", caCertificates: ca, clientCertificate: CERT, privateKey: KEY },
      undefined,
      () => changes++,
    );
    const first = m.context();
    expect(m.context()).toBe(first);
    utimesSync(ca, new Date(), new Date(Date.now() + 5000));
    const second = m.context();
    expect(second).not.toBe(first);
    expect(changes).toBe(1);
  });

  it("a missing file, a key of another certificate: one line naming the file, no key material", () => {
    const missing = new OriginationMaterial(
      { mode: "SIMPLE", caCertificates: join(dir, "nope.pem") },
      undefined,
      () => {},
    );
    expect(() => missing.context()).toThrow(`${join(dir, "nope.pem")}: ENOENT`);
    issueWorkload(join(dir, "ca"), join(dir, "other"), {
      namespace: "x",
      serviceAccount: "o",
      ttlMs: 3600_000,
    });
    const mismatch = new OriginationMaterial(
      { mode: "MUTUAL", clientCertificate: CERT, privateKey: join(dir, "other", "key.pem") },
      undefined,
      () => {},
    );
    let msg = "";
    try {
      mismatch.context();
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/: not usable for MUTUAL TLS \(/);
    expect(msg.split("\n")).toHaveLength(1);
    expect(msg).not.toContain("PRIVATE KEY");
  });

  it("credentialName: needs --credentials-dir; MUTUAL needs the credential's certificate and key", () => {
    const none = new OriginationMaterial({ mode: "SIMPLE", credentialName: "c" }, undefined, () => {});
    expect(() => none.context()).toThrow('credentialName "c" needs --credentials-dir');
    const creds = join(dir, "creds");
    mkdirSync(join(creds, "ca-only"), { recursive: true });
    writeFileSync(join(creds, "ca-only", "ca.crt"), readFileSync(CA));
    const store = new CredentialStore(creds);
    expect(
      new OriginationMaterial({ mode: "SIMPLE", credentialName: "ca-only" }, store, () => {}).context(),
    ).toBeDefined();
    expect(() =>
      new OriginationMaterial({ mode: "MUTUAL", credentialName: "ca-only" }, store, () => {}).context(),
    ).toThrow('credential "ca-only" has no certificate and key for MUTUAL TLS');
  });
});
