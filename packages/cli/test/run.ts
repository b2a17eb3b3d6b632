/**
 * Runs `lanecar` in-process through `main(argv, io)` and captures what it prints, line by line,
 * with an environment of the test's choosing (never the real process environment).
 */
import { fileURLToPath } from "node:url";
import { main } from "../src/main.js";

export interface RunResult {
  code: number;
  out: string[];
  err: string[];
}

export async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    out: (s) => out.push(...s.split("\n")),
    err: (s) => err.push(...s.split("\n")),
    env,
  });
  return { code, out, err };
}

/** Absolute path of a core fixture (`asm`, `bookinfo/services.yaml`, `broken`, ...). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../../core/test/fixtures/${name}`, import.meta.url));
}

/** The Bookinfo "request routing" setup: services, subsets and the jason → v2 rule. */
export const BOOKINFO_JASON = [
  fixture("bookinfo/services.yaml"),
  fixture("bookinfo/destination-rules.yaml"),
  fixture("bookinfo/tasks/jason-v2.yaml"),
];
