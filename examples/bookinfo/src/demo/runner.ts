/**
 * Runs Bookinfo with traffic lanes as local processes: the gateway, and per instance ("pod") the
 * app and its `lanecar sidecar`, exactly as a user would start them by hand (README "By hand").
 * Used by `pnpm demo`, `pnpm demo:tour` and the process-mode end-to-end test.
 *
 * Two port plans:
 * - `default`: the plan of topology.ts (gateway 127.0.0.1:8080) with the checked-in `config/`, so
 *   editing a YAML file there changes the running demo (sidecars watch their config);
 * - `free`: free ports from the OS, with the same shared config plus per-instance files written
 *   into a temp folder, so a test never collides with a demo that is already running.
 *
 * Mutual TLS is on by default: the runner issues a fresh root and one identity per instance and
 * for the gateway (identities.ts) into `.run/identity` (default plan) or the temp folder, and
 * every sidecar and the gateway get `--identity-dir`; the config's DestinationRules say
 * ISTIO_MUTUAL and its PeerAuthentication (config/security) STRICT. `mtls: false` runs the same
 * demo in plaintext (`pnpm demo --no-mtls`): a generated copy of config/shared with `tls.mode:
 * DISABLE`, and no config/security.
 *
 * Every child is killed when the runner stops, and also (SIGKILL) if the runner's own process
 * exits without stopping it, so nothing is left behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, type WriteStream, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  appEnv,
  CONFIG_DIRS,
  exampleFile,
  GATEWAY,
  gatewayArgs,
  INSTANCES,
  type Instance,
  type Ports,
  processAddresses,
  sidecarArgs,
} from "../topology.js";
import { type DemoIdentities, issueDemoIdentities } from "./identities.js";
import { instanceConfigYaml } from "./instance-config.js";
import { writePlaintextConfig } from "./plaintext-config.js";

export const LANECAR_BIN = exampleFile("../../packages/cli/bin/lanecar.js");
export const SERVICE_JS = exampleFile("dist/service.js");

export interface RunnerOptions {
  /** `default` (topology.ts, checked-in config) or `free` (free ports, generated config). Default `default`. */
  ports?: "default" | "free";
  /** Folder for one log file per process. Default `examples/bookinfo/.run/logs` (default plan) or a temp folder. */
  logDir?: string;
  /** Progress lines ("started reviews-v2 ..."). Default: none. */
  log?: (line: string) => void;
  /** How long one process may take to become ready. Default 20 s. */
  readyTimeoutMs?: number;
  /** Extra environment of apps, by instance name, e.g. `{ "reviews-v2": { FAIL_PERCENT: "25" } }`. */
  appEnv?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Mutual TLS between every proxy (identities issued at start). Default true. */
  mtls?: boolean;
}

/** One child process with its log and the tail of its output for error messages. */
class Child {
  private tail = "";
  private readonly logFile: WriteStream;
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    logPath: string,
  ) {
    this.logFile = createWriteStream(logPath, { flags: "a" });
    const keep = (chunk: Buffer) => {
      this.logFile.write(chunk);
      this.tail = (this.tail + chunk.toString()).slice(-2000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.logFile.end();
        resolve(code ?? (signal ? -1 : null));
      });
    });
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  output(): string {
    return this.tail.trim();
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 7000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

interface Pod {
  instance: Instance;
  app: Child;
  sidecar: Child;
}

const live = new Set<Child>();
let exitHookInstalled = false;

/** Last resort: a runner's process exiting (even by an uncaught error) takes its children along. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const c of live) if (c.alive) c.proc.kill("SIGKILL");
  });
}

export class BookinfoRunner {
  private readonly pods = new Map<string, Pod>();
  private gateway: Child | undefined;
  private stopped = false;
  private appExtraEnv: Readonly<Record<string, Readonly<Record<string, string>>>> = {};
  /** The identities every proxy runs with; undefined with `mtls: false`. */
  identities: DemoIdentities | undefined;
  /** How long issuing the identities took (ms). */
  identityMs = 0;

  private constructor(
    readonly plan: ReadonlyMap<string, Ports>,
    readonly gatewayPort: number,
    readonly gatewayAdminPort: number,
    /** The `--config` paths every process gets. */
    readonly config: readonly string[],
    readonly logDir: string,
    private readonly tempDir: string | undefined,
    private readonly log: (line: string) => void,
    private readonly readyTimeoutMs: number,
  ) {}

  /** Chooses ports and config; checks the default plan's ports are free. Starts nothing. */
  static async create(opts: RunnerOptions = {}): Promise<BookinfoRunner> {
    const runner = await BookinfoRunner.choosePorts(opts);
    runner.appExtraEnv = opts.appEnv ?? {};
    return runner;
  }

  private static async choosePorts(opts: RunnerOptions): Promise<BookinfoRunner> {
    const log = opts.log ?? (() => {});
    const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
    const mtls = opts.mtls ?? true;
    if ((opts.ports ?? "default") === "default") {
      const plan = new Map(INSTANCES.map((i) => [i.name, i.ports] as const));
      const all = [GATEWAY.listen.port, GATEWAY.admin.port, ...[...plan.values()].flatMap(portList)];
      const busy = await busyPorts(all);
      if (busy.length > 0)
        throw new Error(
          `port${busy.length > 1 ? "s" : ""} ${busy.join(", ")} on 127.0.0.1 already in use ` +
            "(is another `pnpm demo` running? stop it, or free the ports)",
        );
      const logDir = opts.logDir ?? exampleFile(".run/logs");
      mkdirSync(logDir, { recursive: true });
      // Without mTLS the shared config is a generated copy; the instances' files stay the checked-in ones.
      const tempDir = mtls ? undefined : mkdtempSync(join(tmpdir(), "lanecar-bookinfo-"));
      const config = tempDir
        ? [writePlaintextConfig(join(tempDir, "shared")), exampleFile(CONFIG_DIRS.process)]
        : [exampleFile("config")]; // shared + security + process
      const runner = new BookinfoRunner(
        plan,
        GATEWAY.listen.port,
        GATEWAY.admin.port,
        config,
        logDir,
        tempDir,
        log,
        readyTimeoutMs,
      );
      if (mtls) runner.issueIdentities(exampleFile(".run/identity"));
      return runner;
    }
    const ports = await freePorts(2 + INSTANCES.length * 4);
    const plan = new Map<string, Ports>();
    INSTANCES.forEach((i, n) => {
      const [app, inbound, outbound, admin] = ports.slice(2 + n * 4, 6 + n * 4) as [
        number,
        number,
        number,
        number,
      ];
      plan.set(i.name, { app, inbound, outbound, admin });
    });
    const tempDir = mkdtempSync(join(tmpdir(), "lanecar-bookinfo-"));
    const instancesDir = join(tempDir, "instances");
    mkdirSync(instancesDir);
    for (const i of INSTANCES)
      writeFileSync(join(instancesDir, `${i.name}.yaml`), instanceConfigYaml(i, plan.get(i.name)!));
    const logDir = opts.logDir ?? join(tempDir, "logs");
    mkdirSync(logDir, { recursive: true });
    const mesh = mtls
      ? [exampleFile(CONFIG_DIRS.shared), exampleFile(CONFIG_DIRS.security)]
      : [writePlaintextConfig(join(tempDir, "shared"))];
    const runner = new BookinfoRunner(
      plan,
      ports[0]!,
      ports[1]!,
      [...mesh, instancesDir],
      logDir,
      tempDir,
      log,
      readyTimeoutMs,
    );
    if (mtls) runner.issueIdentities(join(tempDir, "identity"));
    return runner;
  }

  private issueIdentities(dir: string): void {
    const t0 = performance.now();
    this.identities = issueDemoIdentities(dir);
    this.identityMs = performance.now() - t0;
    this.log(
      `issued ${this.identities.spiffeIds.size} workload identities in ${this.identityMs.toFixed(0)} ms (root and certificates in ${dir})`,
    );
  }

  /** Identity folder of an instance (`--identity-dir`), when mTLS is on. */
  identityDirOf(name: string): string | undefined {
    return this.identities?.instances.get(name);
  }

  get gatewayUrl(): string {
    return `http://127.0.0.1:${this.gatewayPort}`;
  }

  get gatewayAdmin(): string {
    return `127.0.0.1:${this.gatewayAdminPort}`;
  }

  portsOf(name: string): Ports {
    const p = this.plan.get(name);
    if (!p) throw new Error(`no instance "${name}"; instances: ${INSTANCES.map((i) => i.name).join(", ")}`);
    return p;
  }

  /** Process ids of an instance's app and sidecar, while it runs. */
  pidsOf(name: string): { app: number; sidecar: number } | undefined {
    const pod = this.pods.get(name);
    if (!pod?.app.proc.pid || !pod.sidecar.proc.pid) return undefined;
    return { app: pod.app.proc.pid, sidecar: pod.sidecar.proc.pid };
  }

  /** Names of the instances whose app and sidecar are both running, in topology order. */
  running(): string[] {
    return INSTANCES.filter((i) => {
      const pod = this.pods.get(i.name);
      return pod?.app.alive && pod.sidecar.alive;
    }).map((i) => i.name);
  }

  /** Starts the gateway and waits until its admin API says LIVE. */
  async startGateway(): Promise<void> {
    if (this.gateway?.alive) return;
    const child = this.spawn(
      "gateway",
      LANECAR_BIN,
      gatewayArgs(
        this.config,
        `${GATEWAY.listen.host}:${this.gatewayPort}`,
        this.gatewayAdmin,
        this.identities?.gateway,
      ),
    );
    this.gateway = child;
    await this.waitFor(child, `http://${this.gatewayAdmin}/ready`);
    this.log(`started gateway      listen ${this.gatewayUrl}  admin ${this.gatewayAdmin}`);
  }

  /** Starts an instance's app and sidecar (a pod) and waits until both are ready. */
  async start(name: string): Promise<void> {
    const instance = INSTANCES.find((i) => i.name === name);
    if (!instance) this.portsOf(name);
    const i = instance!;
    const existing = this.pods.get(name);
    if (existing?.app.alive && existing.sidecar.alive) return;
    if (existing) await this.kill(name);
    const ports = this.portsOf(name);
    const app = this.spawn(name, SERVICE_JS, [], { ...appEnv(i, ports), ...this.appExtraEnv[name] });
    const sidecar = this.spawn(
      `${name}-sidecar`,
      LANECAR_BIN,
      sidecarArgs(i, this.config, processAddresses(ports), this.identityDirOf(name)),
    );
    this.pods.set(name, { instance: i, app, sidecar });
    await Promise.all([
      this.waitFor(app, `http://127.0.0.1:${ports.app}/health`),
      this.waitFor(sidecar, `http://127.0.0.1:${ports.admin}/ready`),
    ]);
    this.log(
      `started ${name.padEnd(15)}app :${ports.app}  sidecar inbound :${ports.inbound} outbound :${ports.outbound} admin :${ports.admin}`,
    );
  }

  /**
   * Starts several instances, callees before callers (ratings and details, then reviews, then
   * productpage), each tier at once: a caller's sidecar probes its callees when it starts, and
   * a callee that is not up yet would count as down until the next probe.
   */
  async startAll(names: readonly string[]): Promise<void> {
    for (const tier of TIERS) {
      await Promise.all(
        names
          .filter((n) => tier.includes(INSTANCES.find((i) => i.name === n)?.service ?? ""))
          .map((n) => this.start(n)),
      );
    }
    const unknown = names.filter((n) => !INSTANCES.some((i) => i.name === n));
    if (unknown.length > 0) this.portsOf(unknown[0]!);
  }

  /**
   * Stops a pod as Kubernetes deletes one: SIGTERM. The sidecar goes first (it drains, then
   * refuses connections, so callers fall back at once), then the app.
   */
  async kill(name: string): Promise<void> {
    const pod = this.pods.get(name);
    if (!pod) return;
    await pod.sidecar.stop();
    await pod.app.stop();
    live.delete(pod.sidecar);
    live.delete(pod.app);
    this.pods.delete(name);
    this.log(`stopped ${name}`);
  }

  /** Stops everything (gateway first, so no new request comes in) and removes generated files. */
  async stopAll(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.gateway) {
      await this.gateway.stop();
      live.delete(this.gateway);
    }
    await Promise.all([...this.pods.keys()].map((n) => this.kill(n)));
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
  }

  private spawn(
    name: string,
    script: string,
    args: readonly string[],
    env: Record<string, string> = {},
  ): Child {
    if (this.stopped) throw new Error("the runner was stopped");
    installExitHook();
    const proc = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const child = new Child(name, proc, join(this.logDir, `${name}.log`));
    live.add(child);
    return child;
  }

  /** Polls `url` until it answers 200; fails with the child's output if it exits or times out. */
  private async waitFor(child: Child, url: string): Promise<void> {
    const until = Date.now() + this.readyTimeoutMs;
    for (;;) {
      if (!child.alive) throw new Error(`${child.name} exited before it was ready:\n${child.output()}`);
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until)
        throw new Error(
          `${child.name} not ready after ${this.readyTimeoutMs} ms (${url}):\n${child.output()}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Services by call depth, leaves first. */
const TIERS: readonly (readonly string[])[] = [["ratings", "details"], ["reviews"], ["productpage"]];

function portList(p: Ports): number[] {
  return [p.app, p.inbound, p.outbound, p.admin];
}

/** The ports among `ports` that something on 127.0.0.1 already listens on. */
async function busyPorts(ports: readonly number[]): Promise<number[]> {
  const busy: number[] = [];
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (!free) busy.push(port);
  }
  return busy;
}

/** `n` distinct free ports on 127.0.0.1 (all held open until every one is chosen). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
