/**
 * The real `lanecar` binary, as `pnpm exec lanecar` runs it: compiled output in dist/, a separate
 * Node process, real stdout and exit code.
 */
import { execFileSync, spawnSync } from "node:child_process";
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

  it("stops quietly when its reader goes away (| head): no EPIPE stack trace", () => {
    // `true` exits at once, so the pipe is closed before the first line is written.
    const r = spawnSync("sh", ["-c", `"${process.execPath}" "${BIN}" validate . | true`], {
      cwd: fixture("broken"),
      encoding: "utf8",
      env: { PATH: process.env.PATH },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
  });
});
