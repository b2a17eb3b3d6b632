import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, so they never depend on a stale build.
    alias: {
      "@lanecar/core": src("./packages/core/src/index.ts"),
      "@lanecar/proxy": src("./packages/proxy/src/index.ts"),
    },
  },
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "test/**/*.test.ts",
      "examples/*/test/**/*.test.ts",
      "bench/test/**/*.test.ts",
    ],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: "forks",
    // .ci/run counts the results from a JSON report, so it can call exactly `pnpm test`.
    ...(process.env.LANECAR_TEST_JSON
      ? { reporters: ["default", "json"], outputFile: { json: process.env.LANECAR_TEST_JSON } }
      : {}),
    // Installs missing system packages (nginx, dnsmasq, ...) once, as root on Debian; see the file.
    globalSetup: ["test/support/system-packages.ts"],
  },
});
