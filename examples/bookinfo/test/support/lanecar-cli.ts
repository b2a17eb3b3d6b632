/**
 * Runs the real `lanecar` command (packages/cli/bin/lanecar.js) as a child process, after
 * building it, from the repository root — the way a user runs `pnpm exec lanecar`.
 */
import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
export const LANECAR_BIN = fileURLToPath(new URL("../../../../packages/cli/bin/lanecar.js", import.meta.url));
const TSC = fileURLToPath(new URL("../../../../node_modules/.bin/tsc", import.meta.url));

let buildOutput: string | undefined;

/**
 * Builds the CLI (and what it depends on) once per test file. A failed build throws with tsc's
 * complaints: tests must not go on to run a stale dist/ and pass or fail for the wrong reason.
 */
export function buildCli(): void {
  if (buildOutput === undefined) {
    try {
      execFileSync(TSC, ["-b", "packages/cli"], { cwd: REPO_ROOT, encoding: "utf8", stdio: "pipe" });
      buildOutput = "";
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message?: string };
      buildOutput = `${e.stdout ?? ""}${e.stderr ?? ""}` || (e.message ?? "tsc failed");
    }
  }
  if (buildOutput !== "") throw new Error(`tsc -b packages/cli failed:\n${buildOutput.slice(0, 4000)}`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `lanecar <args>` from the repository root; never throws on a non-zero exit. */
export function lanecar(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [LANECAR_BIN, ...args],
      { cwd: REPO_ROOT, encoding: "utf8", timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A failure message that says why the CLI could not run. */
export function explainFailure(r: CliResult): string {
  return `lanecar exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(0, 2000)}`;
}
