/**
 * Where things are: the repository root (the folder holding pnpm-workspace.yaml), the compiled
 * bench scripts that child processes run, and the results folder. Works from bench/dist (node)
 * and from bench/src (vitest runs the TypeScript sources, but children still run compiled JS).
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    const up = dirname(dir);
    if (up === dir) return resolve(start, "..", "..");
    dir = up;
  }
}

/** The repository root. */
export const REPO_ROOT = findRoot(here);

/** bench/ */
export const BENCH_DIR = join(REPO_ROOT, "bench");

/** bench/dist: the compiled scripts child processes are started from. */
export const BENCH_DIST = join(BENCH_DIR, "dist");

/** bench/results */
export const RESULTS_DIR = join(BENCH_DIR, "results");

/**
 * The Lanecar CLI launcher (SPEC section 7). `LANECAR_BENCH_BIN` points the harness at another
 * build (a branch checked out elsewhere) to compare the two.
 */
export const LANECAR_BIN =
  process.env.LANECAR_BENCH_BIN || join(REPO_ROOT, "packages", "cli", "bin", "lanecar.js");

/** A compiled bench script (`upstream.js`, `peers/http-proxy.js`), checked to exist. */
export function distScript(rel: string): string {
  const p = join(BENCH_DIST, rel);
  if (!existsSync(p)) {
    throw new Error(`${p} is missing: build the bench first (pnpm exec tsc -b bench)`);
  }
  return p;
}
