/**
 * `pnpm demo` as a user runs it (the built entry point in its own process): it prints where
 * everything runs once all is ready, serves the lanes, and Ctrl-C (SIGINT) stops every process
 * it started, exiting 0. `--free-ports` keeps it clear of a demo already running here. Mutual
 * TLS is on (a plaintext request to a sidecar gets no response); on the node:http fallback data
 * path, which cannot do TLS, the demo says to use `--no-mtls`, and with it serves in plaintext.
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("../../examples/bookinfo/dist/demo/main.js", import.meta.url));
/** The fallback-data-path project: mutual TLS cannot run, so the demo runs as `--no-mtls`. */
const MTLS = process.env.LANECAR_DATA_PATH !== "node";

/** A plaintext GET on a fresh connection; whatever came back before the close. */
function plaintextGet(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    let out = "";
    s.on("connect", () => s.write("GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"));
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(out));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("pnpm demo", () => {
  it("starts everything, serves the lanes, and stops every process on Ctrl-C", async () => {
    const args = MTLS ? ["--free-ports"] : ["--free-ports", "--no-mtls"];
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      out += c;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const until = Date.now() + 60_000;
      while (!out.includes("Ctrl-C stops everything") && child.exitCode === null && Date.now() < until)
        await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain("Ctrl-C stops everything");

      const gateway = /gateway\s+edge\s+listen :(\d+)/.exec(out)?.[1];
      expect(gateway, out).toBeDefined();
      const pids = [...out.matchAll(/pids (\d+)\/(\d+)/g)].flatMap((m) => [Number(m[1]), Number(m[2])]);
      expect(pids).toHaveLength(16); // 8 instances, app + sidecar each
      expect(pids.every(alive)).toBe(true);

      const r = await fetch(`http://127.0.0.1:${gateway}/api/v1/lanes`, { headers: { "end-user": "jason" } });
      expect(await r.json()).toEqual({ productpage: "v2", details: "v1", reviews: "v2", ratings: "v2" });

      // Mutual TLS: STRICT sidecars refuse plaintext; with --no-mtls they serve it.
      const inbound = Number(/reviews-v1\s+prod\s+app :\d+\s+sidecar in :(\d+)/.exec(out)?.[1]);
      expect(inbound, out).toBeGreaterThan(0);
      if (MTLS) {
        expect(out).toMatch(/issued 9 workload identities in \d+ ms/);
        expect(out).toContain("Mutual TLS (STRICT) between the gateway and every sidecar");
        expect(out).toContain("spiffe://cluster.local/ns/default/sa/bookinfo-reviews");
        expect(await plaintextGet(inbound)).toBe("");
      } else {
        expect(out).toContain("Mutual TLS is off (--no-mtls)");
        expect(await plaintextGet(inbound)).toMatch(/^HTTP\/1\.1 200 /);
      }

      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(out).toContain("nothing is left running");
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 90_000);

  it("on the node:http fallback, mutual TLS cannot start: one clear hint to use --no-mtls, exit 1", async () => {
    const child = spawn(process.execPath, [MAIN, "--free-ports", "--baseline"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LANECAR_DATA_PATH: "node" },
    });
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(code).toBe(1);
    expect(err).toContain("mutual TLS runs only on Lanecar's HTTP/1.1 codec");
    expect(err).toContain("try pnpm demo --no-mtls");
  }, 60_000);

  it("refuses an unknown flag with its usage, and exits 2", async () => {
    const child = spawn(process.execPath, [MAIN, "--bogus"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(code).toBe(2);
    expect(err).toContain('unknown argument "--bogus"');
    expect(err).toContain("usage: pnpm demo");
  });
});
