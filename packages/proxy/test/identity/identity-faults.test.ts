/**
 * The identity watcher's faults, polled by hand (`check(now)`): a refused rotation is in the
 * status at once, warned in the log only when the next poll still sees it and then only once per
 * reason; the files coming back to the identity in use clear the error; MeshTls refuses a
 * rotation to another trust domain or, with a service account, to another identity. The CA's
 * programmatic validity window and trust domain are what the certificates say.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  IdentityError,
  IdentityWatcher,
  initCa,
  issueWorkload,
  selfSignedWorkload,
} from "../../src/identity/index.js";
import { MeshTls } from "../../src/identity/mesh-tls.js";

const HOUR = 3600_000;

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "lanecar-id-faults-"));
}

function setup() {
  const ca = join(tmp(), "ca");
  initCa(ca);
  const dir = join(tmp(), "w");
  issueWorkload(ca, dir, { namespace: "default", serviceAccount: "reviews", ttlMs: HOUR });
  return { ca, dir };
}

describe("IdentityWatcher faults", () => {
  it("a refused rotation: in the status at once, warned on the second poll, once", () => {
    const { dir } = setup();
    const warned: string[] = [];
    const w = new IdentityWatcher(dir, () => {}, 1000, { warn: (m) => warned.push(m) });
    const good = readFileSync(join(dir, "cert.pem"), "utf8");
    const fp = w.current.fingerprint256;
    writeFileSync(join(dir, "cert.pem"), "garbage\n");
    expect(w.check(1)).toBe(false);
    expect(w.status().lastError).toMatch(/cert\.pem: no PEM certificate in it; still serving /);
    expect(warned).toEqual([]); // maybe a rewrite in progress
    for (let i = 2; i < 6; i++) expect(w.check(i)).toBe(false);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`not rotated: ${dir}/cert.pem: no PEM certificate in it; still serving`);
    expect(warned[0]).toContain(`(${fp})`);
    // Back to the files in use: the error is gone, nothing rotated.
    writeFileSync(join(dir, "cert.pem"), good);
    expect(w.check()).toBe(false);
    expect(w.status()).toMatchObject({ lastError: null, rotations: 0, fingerprint256: fp });
  });

  it("the identity in use expiring in place (renewal failed) is reported and warned", () => {
    const { dir } = setup();
    const warned: string[] = [];
    const w = new IdentityWatcher(dir, () => {}, 1000, { warn: (m) => warned.push(m) });
    const later = w.current.notAfter.getTime() + 1000;
    expect(w.check(later)).toBe(false);
    expect(w.check(later + 1000)).toBe(false);
    expect(w.status().lastError).toContain(`cert.pem expired at ${w.current.notAfter.toISOString()}`);
    expect(warned).toHaveLength(1);
  });

  it("an error that lasts one poll only (a plain rewrite) is never warned", () => {
    const { ca, dir } = setup();
    const warned: string[] = [];
    const w = new IdentityWatcher(dir, () => {}, 1000, { warn: (m) => warned.push(m) });
    const next = join(tmp(), "n");
    issueWorkload(ca, next, { namespace: "default", serviceAccount: "reviews", ttlMs: HOUR });
    writeFileSync(join(dir, "cert.pem"), readFileSync(join(next, "cert.pem")));
    expect(w.check()).toBe(false); // new cert, old key
    writeFileSync(join(dir, "key.pem"), readFileSync(join(next, "key.pem")));
    expect(w.check()).toBe(true);
    expect(warned).toEqual([]);
    expect(w.status().lastError).toBeNull();
  });
});

describe("MeshTls identity checks", () => {
  it("refuses a rotation to another trust domain, and with --service-account to another identity", () => {
    const { ca, dir } = setup();
    const errors: string[] = [];
    const log = { info: () => {}, error: (m: string) => errors.push(m) };
    const mesh = new MeshTls({ identityDir: dir, serviceAccount: "reviews", namespace: "default", log });
    try {
      issueWorkload(ca, dir, { namespace: "default", serviceAccount: "ratings", ttlMs: HOUR });
      expect(mesh.watcher.check()).toBe(false);
      expect(mesh.watcher.check()).toBe(false);
      expect(mesh.status().lastError).toContain(
        "names spiffe://cluster.local/ns/default/sa/ratings, not spiffe://cluster.local/ns/default/sa/reviews",
      );
      expect(errors).toHaveLength(1);
      issueWorkload(ca, dir, {
        namespace: "default",
        serviceAccount: "reviews",
        ttlMs: HOUR,
        trustDomain: "x.example",
      });
      expect(mesh.watcher.check()).toBe(false);
      expect(mesh.status().lastError).toContain(
        'names trust domain "x.example", not --trust-domain "cluster.local"',
      );
      expect(mesh.status().spiffeId).toBe("spiffe://cluster.local/ns/default/sa/reviews");
    } finally {
      mesh.stop();
    }
    expect(() => new MeshTls({ identityDir: dir, serviceAccount: "reviews" })).toThrow(IdentityError);
  });
});

describe("ca test helpers", () => {
  it("issue an exact validity window, another trust domain, a self-signed leaf", () => {
    const { ca } = setup();
    const out = join(tmp(), "x");
    const notBefore = Date.UTC(2030, 0, 1);
    issueWorkload(ca, out, {
      namespace: "default",
      serviceAccount: "a",
      ttlMs: HOUR,
      notBefore,
      notAfter: notBefore + HOUR,
      trustDomain: "other.example",
    });
    const c = new X509Certificate(readFileSync(join(out, "cert.pem")));
    expect(new Date(c.validFrom).getTime()).toBe(notBefore);
    expect(new Date(c.validTo).getTime()).toBe(notBefore + HOUR);
    expect(c.subjectAltName).toBe("URI:spiffe://other.example/ns/default/sa/a");
    expect(c.verify(new X509Certificate(readFileSync(join(ca, "root-cert.pem"))).publicKey)).toBe(true);
    const self = join(tmp(), "s");
    selfSignedWorkload(self, {
      namespace: "default",
      serviceAccount: "a",
      ttlMs: HOUR,
      trustDomain: "cluster.local",
    });
    const s = new X509Certificate(readFileSync(join(self, "cert.pem")));
    expect(s.verify(s.publicKey)).toBe(true);
    expect(s.issuer).toBe(s.subject);
    expect(s.ca).toBe(false);
  });
});
