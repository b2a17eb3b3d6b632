/**
 * The mutual-TLS scenarios on real processes, one 0.5-second round: `lanecar-lanes-mtls` (two
 * `lanecar sidecar`s with identities, ISTIO_MUTUAL, STRICT) and its twin `nginx-ssl` (when nginx
 * and openssl are installed) serve the load with zero errors; Lanecar's lane check passes through
 * the TLS hop, both refuse a client without a certificate, both negotiate the same TLS, and
 * sidecar B accepts a handful of kept-alive connections rather than one per request. Child
 * processes run the compiled bench (bench/dist) and CLI (packages/cli/dist).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { which } from "../src/proc.js";
import { defaultOptions, runBench } from "../src/run.js";

const out = mkdtempSync(join(tmpdir(), "lanecar-bench-mtls-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const withNginx = which("nginx") !== undefined && which("openssl") !== undefined;

describe("mutual-TLS scenarios", () => {
  it("lanecar-lanes-mtls (and nginx-ssl) serve over mTLS with zero errors", async () => {
    const scenarios = withNginx ? ["nginx-ssl", "lanecar-lanes-mtls"] : ["lanecar-lanes-mtls"];
    if (!withNginx) console.log("mtls scenarios: nginx-ssl left out (nginx or openssl not installed)");
    const lines: string[] = [];
    const run = await runBench({
      ...defaultOptions(),
      mode: "custom",
      scenarios,
      rounds: 1,
      durationS: 0.5,
      warmupS: 0.2,
      outDir: out,
      log: (l) => lines.push(l),
      rssAfterTtlS: 0,
    });
    const by = (n: string) => run.results.scenarios.find((s) => s.name === n)!;
    const log = lines.join("\n");

    const lanecar = by("lanecar-lanes-mtls");
    expect(lanecar.reason, log).toBeUndefined();
    expect(lanecar.errors, log).toBe(0);
    expect(lanecar.rps).toBeGreaterThan(0);
    const notes = lanecar.notes.join("\n");
    expect(notes).toContain("sidecar A inbound (STRICT), plaintext request: refused");
    expect(notes).toContain("lane check: correlated request reached the upstream labelled gray");
    expect(notes).toMatch(/sidecar B, client with a certificate: TLSv1\.3 \S+, HTTP\/1\.1 200 OK/);
    expect(notes).toMatch(/sidecar B, client without one: .*CERTIFICATE_REQUIRED/);
    // Pooled connections are reused: the load (50 connections) costs B about 50 handshakes.
    const accepted = /sidecar B inbound connections since start: (\d+) TLS/.exec(notes);
    expect(accepted, notes).not.toBeNull();
    const handshakes = Number(accepted![1]);
    const requests = lanecar.rounds[0]!.throughput.requests;
    expect(handshakes).toBeGreaterThan(0);
    expect(handshakes).toBeLessThanOrEqual(2 * run.results.meta.connections);
    expect(requests).toBeGreaterThan(handshakes);

    const bar = run.bar.find((l) => l.rule.startsWith("lanecar-lanes-mtls req/s"))!;
    if (withNginx) {
      const nginx = by("nginx-ssl");
      expect(nginx.reason, log).toBeUndefined();
      expect(nginx.errors, log).toBe(0);
      const n = nginx.notes.join("\n");
      expect(n).toMatch(/nginx B, client with a certificate: TLSv1\.3 \S+, HTTP\/1\.1 200 OK/);
      expect(n).toContain("nginx B, client without one: TLSv1.3");
      expect(n).toMatch(/client without one: .*HTTP\/1\.1 400/);
      // The same protocol and cipher on both twins' TLS hop.
      const cipher = (s: string) => /with a certificate: (TLSv1\.3 \S+),/.exec(s)?.[1];
      expect(cipher(notes)).toBe(cipher(n));
      expect(["PASS", "FAIL"]).toContain(bar.status);
    } else expect(bar.status).toBe("SKIP");
  }, 90_000);
});
