/**
 * The real `lanecar` binary, as `pnpm exec lanecar` runs it: compiled output in dist/, a separate
 * Node process, real stdout and exit code.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture } from "./run.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BIN = fileURLToPath(new URL("../bin/lanecar.js", import.meta.url));

beforeAll(() => {
  // The binary runs dist/, not the sources vitest reads: build it first.
  execFileSync(`${ROOT}node_modules/.bin/tsc`, ["-b", "packages/cli"], { cwd: ROOT, stdio: "pipe" });
}, 180_000);

describe("bin/lanecar.js", () => {
  it("validate prints expected.txt exactly on stdout and exits 1 on fixtures/broken", () => {
    const dir = fixture("broken");
    const r = spawnSync(process.execPath, [BIN, "validate", "."], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH },
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(readFileSync(`${dir}/expected.txt`, "utf8"));
    expect(r.stderr).not.toMatch(/\n\s+at /); // warnings only, never a stack trace
  });

  /** Runs `lanecar validate .` in `dir` with the read end of its stdout closed at once. */
  async function validateWithoutReader(dir: string): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [BIN, "validate", "."], {
      cwd: dir,
      env: { PATH: process.env.PATH },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    return { code, stderr };
  }

  it("stops quietly when its reader goes away (| head): no EPIPE stack trace, its own status", async () => {
    // The status checked is the lanecar process's own (a shell pipe's would be the reader's):
    // the result of the validation, as with a reader (1 invalid, 0 valid), never a crash.
    const broken = await validateWithoutReader(fixture("broken"));
    expect(broken.code).toBe(1);
    expect(broken.stderr).not.toMatch(/EPIPE|\n\s+at /);
    const valid = await validateWithoutReader(fixture("valid-mixed"));
    expect(valid.code).toBe(0);
    expect(valid.stderr).not.toMatch(/EPIPE|\n\s+at /);
  });
});
