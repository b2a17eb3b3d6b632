#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript in ../dist (built by `pnpm install`).
import { main } from "../dist/main.js";

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === "number") process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`lanecar: ${err?.stack ? err.stack : err}\n`);
    process.exitCode = 2;
  },
);
