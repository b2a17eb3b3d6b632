/**
 * Workload identity (issue 15, first part): `lanecar ca` certificates are valid X.509 as
 * OpenSSL reads them (URI SAN, chain, usages), work for a real mutual-TLS handshake, and the
 * identity loader refuses every broken set with one line while a watcher keeps the last good one.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import {
  CaError,
  IdentityError,
  IdentityWatcher,
  initCa,
  issueWorkload,
  loadWorkloadCert,
  parseSpiffeId,
} from "../../src/identity/index.js";

const HOUR = 3600_000;

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "lanecar-id-"));
}

function openssl(args: string[]): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function newCa(td = "cluster.local"): string {
  const dir = join(tmp(), "ca");
  initCa(dir, td);
  return dir;
}

describe("lanecar ca: certificates OpenSSL accepts", () => {
  it("a workload certificate chains to the root and names exactly its SPIFFE ID", () => {
    const ca = newCa("example.org");
    const out = join(tmp(), "reviews");
    const id = issueWorkload(ca, out, { namespace: "bookinfo", serviceAccount: "reviews", ttlMs: 2 * HOUR });
    expect(id).toBe("spiffe://example.org/ns/bookinfo/sa/reviews");
    expect(openssl(["verify", "-CAfile", join(out, "root-cert.pem"), join(out, "cert.pem")])).toContain(
      ": OK",
    );
    const text = openssl(["x509", "-in", join(out, "cert.pem"), "-noout", "-text"]);
    expect(text).toMatch(
      /Subject Alternative Name: critical\s+URI:spiffe:\/\/example\.org\/ns\/bookinfo\/sa\/reviews\s/,
    );
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(text).toContain("ecdsa-with-SHA256");
    const root = openssl(["x509", "-in", join(ca, "root-cert.pem"), "-noout", "-text"]);
    expect(root).toMatch(/CA:TRUE, pathlen:0/);
    expect(root).toContain("URI:spiffe://example.org");
    // Keys are private to their owner.
    expect(statSync(join(out, "key.pem")).mode & 0o777).toBe(0o600);
    expect(statSync(join(ca, "root-key.pem")).mode & 0o777).toBe(0o600);
  });

  it("the TTL sets notAfter; the validity starts a few minutes back for skewed clocks", () => {
    const ca = newCa();
    const out = join(tmp(), "w");
    const now = Date.now();
    issueWorkload(ca, out, { namespace: "default", serviceAccount: "w", ttlMs: 90 * 60_000, now });
    const c = loadWorkloadCert(out, now);
    expect(Math.abs(c.notAfter.getTime() - (now + 90 * 60_000))).toBeLessThan(2000);
    expect(c.notBefore.getTime()).toBeLessThan(now);
    expect(now - c.notBefore.getTime()).toBeLessThanOrEqual(5 * 60_000 + 2000);
  });

  it("refuses bad input with one line and never overwrites a root", () => {
    const ca = newCa();
    expect(() => initCa(ca)).toThrow(/root-key\.pem exists; not overwriting a root/);
    expect(() => initCa(join(tmp(), "x"), "Not_A Domain")).toThrow(CaError);
    const out = join(tmp(), "o");
    expect(() => issueWorkload(ca, out, { namespace: "Bad_NS", serviceAccount: "a", ttlMs: HOUR })).toThrow(
      /namespace "Bad_NS" is not a valid namespace name/,
    );
    expect(() =>
      issueWorkload(join(tmp(), "none"), out, { namespace: "a", serviceAccount: "a", ttlMs: HOUR }),
    ).toThrow(/cannot read the CA in .* \(ENOENT\); run lanecar ca init first/);
    expect(() => issueWorkload(ca, out, { namespace: "a", serviceAccount: "a", ttlMs: 0 })).toThrow(
      /TTL must be positive/,
    );
  });

  it("two workloads complete a real mutual-TLS handshake and each sees the other's SPIFFE ID", async () => {
    const ca = newCa();
    const a = join(tmp(), "a");
    const b = join(tmp(), "b");
    issueWorkload(ca, a, { namespace: "default", serviceAccount: "productpage", ttlMs: HOUR });
    issueWorkload(ca, b, { namespace: "default", serviceAccount: "reviews", ttlMs: HOUR });
    const ia = loadWorkloadCert(a);
    const ib = loadWorkloadCert(b);
    const seenByServer: string[] = [];
    const server = tls.createServer(
      { cert: ib.certPem, key: ib.keyPem, ca: ib.rootPem, requestCert: true, rejectUnauthorized: true },
      (s) => {
        seenByServer.push(s.getPeerCertificate().subjectaltname ?? "");
        s.end("hi");
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    const seenByClient = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({
        host: "127.0.0.1",
        port,
        cert: ia.certPem,
        key: ia.keyPem,
        ca: ia.rootPem,
        // SPIFFE: the peer is checked by its URI SAN, not a host name.
        checkServerIdentity: () => undefined,
      });
      let peer = "";
      c.on("secureConnect", () => {
        peer = c.getPeerCertificate().subjectaltname ?? "";
      });
      // The server answers after it saw the client's certificate: wait for that answer.
      c.on("end", () => resolve(peer));
      c.on("error", reject);
      c.resume();
    });
    server.close();
    expect(seenByClient).toBe("URI:spiffe://cluster.local/ns/default/sa/reviews");
    expect(seenByServer).toEqual(["URI:spiffe://cluster.local/ns/default/sa/productpage"]);
  });
});

describe("loading an identity directory", () => {
  function issued(ttlMs = HOUR, now?: number): { ca: string; dir: string } {
    const ca = newCa();
    const dir = join(tmp(), "id");
    issueWorkload(ca, dir, { namespace: "default", serviceAccount: "svc", ttlMs, now });
    return { ca, dir };
  }

  it("reads a good set", () => {
    const { dir } = issued();
    const c = loadWorkloadCert(dir);
    expect(c.spiffeId).toBe("spiffe://cluster.local/ns/default/sa/svc");
    expect(c.identity).toEqual(parseSpiffeId(c.spiffeId));
    expect(c.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it("refuses an empty cert.pem (a rotation caught half-written)", () => {
    const { dir } = issued();
    writeFileSync(join(dir, "cert.pem"), "");
    expect(() => loadWorkloadCert(dir)).toThrow(/cert\.pem: no PEM certificate in it$/);
  });

  it("refuses each broken set with one line naming the file", () => {
    const cases: [string, (d: string) => void, RegExp][] = [
      ["missing key", (d) => execFileSync("rm", [join(d, "key.pem")]), /key\.pem: missing$/],
      [
        "garbage cert",
        (d) =>
          writeFileSync(
            join(d, "cert.pem"),
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
          ),
        /cert\.pem: not a valid certificate/,
      ],
      [
        "a key of another workload",
        (d) => {
          const other = issued().dir;
          copyFileSync(join(other, "key.pem"), join(d, "key.pem"));
        },
        /key\.pem does not match cert\.pem/,
      ],
      [
        "another trust root",
        (d) => copyFileSync(join(issued().dir, "root-cert.pem"), join(d, "root-cert.pem")),
        /cert\.pem is not signed by any root in root-cert\.pem/,
      ],
      [
        "a self-signed cert as its own root",
        (d) => copyFileSync(join(d, "cert.pem"), join(d, "root-cert.pem")),
        /not signed by any root/,
      ],
    ];
    for (const [what, spoil, want] of cases) {
      const { dir } = issued();
      spoil(dir);
      let msg = "";
      try {
        loadWorkloadCert(dir);
      } catch (err) {
        expect(err, what).toBeInstanceOf(IdentityError);
        msg = (err as Error).message;
      }
      expect(msg, what).toMatch(want);
      expect(msg.includes("\n"), what).toBe(false);
    }
  });

  it("refuses an expired and a not-yet-valid certificate", () => {
    const past = Date.now() - 10 * HOUR;
    expect(() => loadWorkloadCert(issued(HOUR, past).dir)).toThrow(/expired at /);
    const future = Date.now() + 10 * HOUR;
    expect(() => loadWorkloadCert(issued(HOUR, future).dir)).toThrow(/is not valid before /);
  });
});

describe("IdentityWatcher: rotation keeps the last good identity", () => {
  it("takes a new good set, keeps serving the old one through a broken write, and never shows a key", () => {
    const ca = newCa();
    const dir = join(tmp(), "id");
    issueWorkload(ca, dir, { namespace: "default", serviceAccount: "svc", ttlMs: HOUR });
    const rotated: string[] = [];
    const w = new IdentityWatcher(dir, (c) => rotated.push(c.fingerprint256));
    const first = w.current.fingerprint256;
    expect(w.check()).toBe(false); // nothing changed

    // A half-written rotation: a new cert, the old key.
    const staging = join(tmp(), "next");
    issueWorkload(ca, staging, { namespace: "default", serviceAccount: "svc", ttlMs: HOUR });
    copyFileSync(join(staging, "cert.pem"), join(dir, "cert.pem"));
    expect(w.check()).toBe(false);
    expect(w.current.fingerprint256).toBe(first);
    expect(w.status().lastError).toMatch(/key\.pem does not match cert\.pem; still serving /);

    // The key arrives: the set is whole again.
    copyFileSync(join(staging, "key.pem"), join(dir, "key.pem"));
    expect(w.check()).toBe(true);
    expect(w.current.fingerprint256).not.toBe(first);
    expect(rotated).toEqual([w.current.fingerprint256]);
    const s = w.status();
    expect(s.lastError).toBeNull();
    expect(s.rotations).toBe(1);
    const shown = JSON.stringify(s);
    expect(shown).not.toMatch(/PRIVATE KEY|BEGIN/);
    expect(readFileSync(join(dir, "key.pem"), "utf8")).toContain("PRIVATE KEY");
  });

  it("a missing or broken identity at start is a one-line IdentityError", () => {
    expect(() => new IdentityWatcher(join(tmp(), "none"))).toThrow(/cert\.pem: missing$/);
  });
});
