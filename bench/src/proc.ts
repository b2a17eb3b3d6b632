/**
 * Child processes of the harness and what the kernel says about them: start one, wait until it
 * answers, stop it (SIGTERM, then SIGKILL), and read CPU time and peak RSS from /proc. Every
 * child is registered so an interrupted run leaves nothing behind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";

const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", () => {
    for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  });
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      process.exit(130);
    });
  }
}

/** A started child: its pid, the tail of its output, and how to stop it. */
export class Child {
  readonly pid: number;
  private readonly tail: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Called with each complete stdout line (readiness protocols). */
  onLine: ((line: string) => void) | undefined;

  constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    if (proc.pid === undefined) throw new Error(`${name}: could not start`);
    this.pid = proc.pid;
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        live.delete(proc);
        resolve({ code, signal });
      });
    });
    let partial = "";
    proc.stdout?.on("data", (d: Buffer) => {
      const text = partial + d.toString("utf8");
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        this.keep(l);
        this.onLine?.(l);
      }
    });
    proc.stderr?.on("data", (d: Buffer) => {
      for (const l of d.toString("utf8").split("\n")) if (l) this.keep(l);
    });
  }

  private keep(line: string): void {
    this.tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
    if (this.tail.length > 20) this.tail.shift();
  }

  /** The last lines the child printed (for "why did it fail"). */
  output(): string {
    return this.tail.join("\n");
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function startChild(
  name: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Child {
  hookExit();
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(proc);
  return new Child(name, proc);
}

/** Registers a child started elsewhere (the load generator) so an interrupted run kills it too. */
export function track(proc: ChildProcess): void {
  hookExit();
  live.add(proc);
  proc.once("exit", () => live.delete(proc));
}

/** Waits for a `LISTENING <port>` line (the bench's own children print one). */
export function waitListening(child: Child, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${child.name}: not listening after ${timeoutMs} ms\n${child.output()}`)),
      timeoutMs,
    );
    child.onLine = (line) => {
      const m = /^LISTENING (\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        child.onLine = undefined;
        resolve(Number(m[1]));
      }
    };
    void child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(`${child.name} exited (${signal ?? `code ${code}`}) before listening\n${child.output()}`),
      );
    });
  });
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP GET on loopback (no keep-alive), with a timeout. */
export function httpGet(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 2000,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    // agent: false — a keep-alive agent (Node's default since 19) may reuse a socket after `Connection: close`.
    const req = request(
      url,
      { method: "GET", agent: false, headers: { connection: "close", ...headers }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

/**
 * Polls `url` until `ok(result)` or the child exits or `timeoutMs` passes. Connection errors
 * while the child starts are expected and retried.
 */
export async function waitHttp(
  child: Child | Child[],
  url: string,
  opts: { headers?: Record<string, string>; ok?: (r: HttpResult) => boolean; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const children = Array.isArray(child) ? child : [child];
  const ok = opts.ok ?? ((r) => r.status === 200);
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last = "no answer";
  for (;;) {
    for (const c of children) {
      if (!c.running) {
        const { code, signal } = await c.exited;
        throw new Error(`${c.name} exited (${signal ?? `code ${code}`})\n${c.output()}`);
      }
    }
    try {
      const r = await httpGet(url, opts.headers, 1000);
      if (ok(r)) return r;
      last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${children.map((c) => c.name).join(", ")}: ${url} not ready: ${last}\n${children.map((c) => c.output()).join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * One line saying why a child failed: the first line that looks like an error message (Node
 * prints the throwing source line and a caret before the error itself), else the first line.
 */
export function failureSummary(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const err = lines.find((l) =>
    /^(\w*Error|error|\[ALERT\]|nginx: \[emerg\]|lanecar)\b|Error \[|: error|: Error/i.test(l),
  );
  return err ?? lines[0] ?? "";
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Is `bin` on PATH (or an absolute path that exists)? Returns its path. */
export function which(bin: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/usr/local/sbin", "/sbin"]);
  for (const d of dirs) {
    const p = `${d}/${bin}`;
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

// ---- /proc ---------------------------------------------------------------------------------

let clkTck: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times. */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** `pid` and every descendant (nginx workers under their master). */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [pid];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (!f) continue;
    const ppid = Number(f[1]);
    const list = parentOf.get(ppid) ?? [];
    list.push(Number(e));
    parentOf.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    for (const c of parentOf.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** utime + stime of the processes, in seconds (0 for those that are gone). */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const p of pids) {
    const f = statFields(p);
    // After the name: state(0) ppid(1) ... utime is field 14 of the full line, index 11 here.
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / clockTicks();
}

/** A /proc/<pid>/status value in kB (`VmHWM`, `VmRSS`), or undefined. */
export function statusKb(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
