#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in ../dist (built by `pnpm install`).
// The data plane (sidecar, gateway) first gets its V8 settings (src/v8-tuning.ts: a smaller,
// bounded resident set), which must be in place before undici and the rest are loaded.
const command = process.argv[2];
if (command === "sidecar" || command === "gateway") {
  const { tuneV8ForDataPlane } = await import("../dist/v8-tuning.js");
  tuneV8ForDataPlane();
}
const { main } = await import("../dist/main.js");

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === "number") process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`lanecar: ${err?.stack ? err.stack : err}\n`);
    process.exitCode = 2;
  },
);
