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
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: "forks",
    projects: [
      {
        extends: true,
        test: {
          name: "lanecar",
          include: [
            "packages/*/test/**/*.test.ts",
            "test/**/*.test.ts",
            "examples/*/test/**/*.test.ts",
            "bench/test/**/*.test.ts",
          ],
        },
      },
      {
        // The end-to-end and hardening suites again on the public-API fallback data path
        // (node:http + undici), the one Lanecar takes when Node's parser binding is gone.
        extends: true,
        test: {
          name: "fallback-data-path",
          include: ["test/e2e/**/*.test.ts", "test/hardening/**/*.test.ts"],
          // Files whose every Lanecar process is pinned to the codec (mutual TLS runs only there)
          // would only run the same thing twice.
          exclude: [
            "test/e2e/data-path.test.ts",
            "test/e2e/mtls-faults.test.ts",
            "test/e2e/mtls-identity.test.ts",
            "test/e2e/mtls-openssl.test.ts",
            "test/e2e/mtls-rotation.test.ts",
          ],
          env: { LANECAR_DATA_PATH: "node" },
        },
      },
    ],
    // .ci/run counts the results from a JSON report, so it can call exactly `pnpm test`.
    ...(process.env.LANECAR_TEST_JSON
      ? { reporters: ["default", "json"], outputFile: { json: process.env.LANECAR_TEST_JSON } }
      : {}),
    // Installs missing system packages (nginx, dnsmasq, ...) once, as root on Debian; see the file.
    globalSetup: ["test/support/system-packages.ts"],
  },
});
