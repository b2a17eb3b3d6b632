/** Runs the real `lanecar` binary as a child process and waits until its admin API is ready. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const LANECAR_BIN = fileURLToPath(new URL("../../packages/cli/bin/lanecar.js", import.meta.url));

export interface Running {
  child: ChildProcess;
  admin: string;
  stderr: () => string;
  /** Everything written to stdout so far (e.g. spans of the console trace exporter). */
  stdout: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function waitReady(
  admin: string,
  timeoutMs = 10_000,
  child?: ChildProcess,
  stderr?: () => string,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`lanecar exited ${child.exitCode}: ${stderr?.()}`);
    try {
      const r = await fetch(`http://${admin}/ready`);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until)
      throw new Error(`lanecar at ${admin} not ready after ${timeoutMs} ms: ${stderr?.()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startLanecar(
  args: string[],
  admin: string,
  env: Record<string, string> = {},
): Promise<Running> {
  const child = spawn(process.execPath, [LANECAR_BIN, ...args, "--admin", admin], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (c) => {
    err += c.toString();
  });
  let out = "";
  child.stdout!.on("data", (c) => {
    out += c.toString();
  });
  const stderr = () => err;
  await waitReady(admin, 15_000, child, stderr);
  // The fallback-data-path test project must really run on the fallback.
  const forced = env.LANECAR_DATA_PATH ?? process.env.LANECAR_DATA_PATH;
  if (forced === "node" && !err.includes("data path: node:http + undici fallback")) {
    throw new Error(`LANECAR_DATA_PATH=node but lanecar did not take the fallback: ${err}`);
  }
  return {
    child,
    admin,
    stderr,
    stdout: () => out,
    stop: (signal = "SIGTERM") =>
      new Promise((resolve) => {
        if (child.exitCode !== null) {
          resolve(child.exitCode);
          return;
        }
        child.once("exit", (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** Runs `lanecar ARGS` expecting it to exit by itself (a start-up error): its exit code and stderr. */
export function runLanecarToExit(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LANECAR_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (c) => {
      stderr += c.toString();
    });
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(kill);
      resolve({ code, stderr });
    });
  });
}
