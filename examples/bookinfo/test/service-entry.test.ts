/**
 * `node dist/service.js` as a real process, the way the runner and docker-compose start it:
 * flags or environment variables, HTTP_PROXY, SIGTERM, and clear errors for bad arguments.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReviewsResponse } from "../src/services/api-types.js";
import { type NameProxy, startNameProxy, type Upstream } from "./support/name-proxy.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const ENTRY = fileURLToPath(new URL("../dist/service.js", import.meta.url));
const TSC = fileURLToPath(new URL("../../../node_modules/.bin/tsc", import.meta.url));

interface Proc {
  child: ChildProcess;
  port: number;
  output: () => string;
}

const running: ChildProcess[] = [];

/** Starts the service and waits for its "listening on host:port" line. */
function start(args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, [ENTRY, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line: ${out}`)), 10_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${out}`));
    });
  });
}

/** Runs the entry to completion (for argument errors); returns exit code and output. */
function runToExit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ENTRY, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("exit", (code) => resolve({ code, output }));
  });
}

let proxy: NameProxy;
const routes = new Map<string, Upstream>();

beforeAll(async () => {
  // The example compiles on its own (it imports nothing from the other packages).
  execFileSync(TSC, ["-p", "examples/bookinfo/tsconfig.json"], { cwd: ROOT, stdio: "pipe" });
  proxy = await startNameProxy("reviews", routes);
}, 120_000);

afterAll(async () => {
  for (const c of running) if (c.exitCode === null) c.kill("SIGKILL");
  await proxy?.close();
});

describe("node dist/service.js", () => {
  it("starts from environment variables (SERVICE, VERSION, PORT) and from flags, calling out through HTTP_PROXY", async () => {
    const ratings = await start([], { SERVICE: "ratings", VERSION: "v2", PORT: "0" });
    routes.set("ratings", { port: ratings.port });
    const reviews = await start(["--service", "reviews", "--version", "v3", "--port", "0"], {
      HTTP_PROXY: proxy.url,
    });
    expect(reviews.output()).toContain(
      `bookinfo reviews v3 listening on 127.0.0.1:${reviews.port} (calls via HTTP_PROXY ${proxy.url})`,
    );

    const health = await fetch(`http://127.0.0.1:${ratings.port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", service: "ratings", version: "v2" });

    const r = await fetch(`http://127.0.0.1:${reviews.port}/reviews/0`, {
      headers: { "x-request-id": "entry-1", "x-asm-prefer-tag": "dev" },
    });
    const body = (await r.json()) as ReviewsResponse;
    expect(body.versions).toEqual({ reviews: "v3", ratings: "v2" });
    expect(body.reviews[0]?.rating).toEqual({ stars: 1, color: "red" });
    const call = proxy.calls.find((c) => c.headers["x-request-id"] === "entry-1");
    expect(call?.target).toBe("http://ratings:9080/ratings/0");
    expect(call?.headers["x-asm-prefer-tag"]).toBeUndefined();
  });

  it("a flag wins over the environment", async () => {
    const p = await start(["--version", "v2", "--port", "0"], {
      SERVICE: "productpage",
      VERSION: "v1",
      PORT: "1",
    });
    const r = await fetch(`http://127.0.0.1:${p.port}/health`);
    expect(await r.json()).toMatchObject({ service: "productpage", version: "v2" });
  });

  it("exits 0 on SIGTERM", async () => {
    const p = await start(["--service", "details", "--port", "0"]);
    const exited = new Promise<number | null>((resolve) => p.child.on("exit", (code) => resolve(code)));
    p.child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("rejects unknown services, versions, flags and proxies with a message", async () => {
    const unknownService = await runToExit(["--service", "payments"]);
    expect(unknownService.code).toBe(2);
    expect(unknownService.output).toContain('unknown service "payments"');
    const unknownVersion = await runToExit(["--service", "reviews", "--version", "v9", "--port", "0"]);
    expect(unknownVersion.code).toBe(1);
    expect(unknownVersion.output).toContain('reviews has no version "v9" (known: v1, v2, v3)');
    const badFlag = await runToExit(["--service", "reviews", "--colour", "red"]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.output).toContain('unknown argument "--colour"');
    const badProxy = await runToExit(["--service", "reviews"], { HTTP_PROXY: "socks5://127.0.0.1:1080" });
    expect(badProxy.code).toBe(2);
    expect(badProxy.output).toContain("must be an http:// URL");
    const help = await runToExit(["--help"]);
    expect(help.code).toBe(0);
    expect(help.output).toContain("usage: node dist/service.js");
  });
});
