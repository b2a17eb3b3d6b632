/**
 * `pnpm demo` as a user runs it (the built entry point in its own process): it prints where
 * everything runs once all is ready, serves the lanes, and Ctrl-C (SIGINT) stops every process
 * it started, exiting 0. `--free-ports` keeps it clear of a demo already running here.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("../../examples/bookinfo/dist/demo/main.js", import.meta.url));

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
    const child = spawn(process.execPath, [MAIN, "--free-ports"], { stdio: ["ignore", "pipe", "pipe"] });
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

      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(out).toContain("nothing is left running");
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 90_000);

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
