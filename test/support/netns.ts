/**
 * Linux network namespaces for pod-mode end-to-end tests: a lab of namespaces ("pods") on one
 * Linux bridge, processes started inside them with `ip netns exec`, and a teardown that leaves
 * nothing behind.
 *
 * Layout of one lab (run id `abc12`, subnet 10.233.N.0/24, all names start with `lcp<id>`):
 * - namespace `lcp<id>-br` holds the bridge `br0`. It lives in its own namespace so the host's
 *   netfilter (br_netfilter, a FORWARD policy) never sees pod-to-pod traffic.
 * - the root namespace gets one veth end `lcp<id>h` with 10.233.N.1/24, plugged into the bridge,
 *   so the test process reaches the pods by IP; its other end is `lcp<id>b` in the bridge namespace.
 * - each pod namespace `lcp<id>-<name>` gets `eth0` with 10.233.N.<k>/24 (peer `lcp<id>p<k>` on the
 *   bridge) and `lo`; a hosts file in `/etc/netns/<ns>/hosts` (bind-mounted over /etc/hosts by
 *   `ip netns exec`); iptables rules on request.
 *
 * Only addresses created here are ever used. Ownership: `/run/lanecar-netns/<id>.owner` names the
 * process (pid and start time) that owns a lab; `cleanupStale` removes labs whose owner is gone
 * (a crashed run). Interface names stay within Linux's 15 characters.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

export const LAB_PREFIX = "lcp";
const OWNER_DIR = "/run/lanecar-netns";
const ID_RE = /^[a-z0-9]{5}$/;
const NS_RE = new RegExp(`^${LAB_PREFIX}([a-z0-9]{5})-`);
const LINK_RE = new RegExp(`^${LAB_PREFIX}([a-z0-9]{5})[hb]$`);

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** spawn error (ENOENT when the command is missing). */
  error?: NodeJS.ErrnoException;
}

/** Runs a command (no shell); never throws. */
export function run(
  cmd: string,
  args: readonly string[],
  input?: string,
  timeoutMs = 15_000,
): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let settled = false;
    const child = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const done = (r: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    child.stdout!.on("data", (c) => (stdout += c));
    child.stderr!.on("data", (c) => (stderr += c));
    child.on("error", (error: NodeJS.ErrnoException) => done({ code: null, stdout, stderr, error }));
    child.on("close", (code) => done({ code, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Runs a command and throws with its output when it fails. */
export async function must(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) {
    const why = r.error ? r.error.message : `exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`;
    throw new Error(`${cmd} ${args.join(" ")}: ${why}${input ? `\ninput:\n${input}` : ""}`);
  }
  return r.stdout;
}

function randomId(): string {
  const chars = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < 5; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined if the process is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function ownerAlive(id: string): boolean {
  try {
    const [pid, start] = readFileSync(`${OWNER_DIR}/${id}.owner`, "utf8").trim().split(" ");
    return startTime(Number(pid)) === start;
  } catch {
    return false;
  }
}

async function namespacesNow(): Promise<string[]> {
  const r = await run("ip", ["netns", "list"]);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(" ")[0]!)
    .filter((n) => n.length > 0);
}

async function rootLinksNow(): Promise<string[]> {
  const r = await run("ip", ["-o", "link", "show"]);
  return r.stdout
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** SIGKILLs every process in a namespace (all of them were started by a lab). */
async function killNamespacePids(ns: string): Promise<void> {
  const r = await run("ip", ["netns", "pids", ns]);
  for (const p of r.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function removeLab(id: string, namespaces: readonly string[]): Promise<void> {
  const own = namespaces.filter((n) => n.startsWith(`${LAB_PREFIX}${id}-`));
  await Promise.all(own.map(killNamespacePids));
  // The root end of the veth first: namespace deletion is asynchronous and would leave it for a while.
  await run("ip", ["link", "del", `${LAB_PREFIX}${id}h`]);
  for (const ns of own) {
    await run("ip", ["netns", "del", ns]);
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
  rmSync(`${OWNER_DIR}/${id}.owner`, { force: true });
}

/** Removes what crashed runs left: labs whose owner process is gone. Returns the ids removed. */
export async function cleanupStale(): Promise<string[]> {
  const ids = new Set<string>();
  const namespaces = await namespacesNow();
  for (const n of namespaces) {
    const m = NS_RE.exec(n);
    if (m) ids.add(m[1]!);
  }
  for (const l of await rootLinksNow()) {
    const m = LINK_RE.exec(l);
    if (m) ids.add(m[1]!);
  }
  if (existsSync("/etc/netns")) {
    for (const d of readdirSync("/etc/netns")) {
      const m = NS_RE.exec(d);
      if (m) ids.add(m[1]!);
    }
  }
  if (existsSync(OWNER_DIR)) {
    for (const f of readdirSync(OWNER_DIR)) {
      const id = f.replace(/\.owner$/, "");
      if (ID_RE.test(id)) ids.add(id);
    }
  }
  const stale = [...ids].filter((id) => !ownerAlive(id));
  for (const id of stale) await removeLab(id, namespaces);
  return stale;
}

/**
 * Whether this machine lets us build a lab: root, `ip`, and a namespace can be created.
 * Returns the reason when not (the pod-mode suite prints it and skips).
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `network namespaces need root (uid ${process.getuid?.()})`;
  const v = await run("ip", ["-V"]);
  if (v.error) return `iproute2's "ip" is not available: ${v.error.message}`;
  const id = randomId();
  const probe = `${LAB_PREFIX}${id}-probe`;
  claim(id);
  try {
    const add = await run("ip", ["netns", "add", probe]);
    if (add.code !== 0)
      return `cannot create a network namespace: ${add.stderr.trim() || `exit ${add.code}`}`;
    const lo = await run("ip", ["-n", probe, "link", "set", "lo", "up"]);
    if (lo.code !== 0) return `cannot configure a network namespace: ${lo.stderr.trim()}`;
    return undefined;
  } finally {
    await run("ip", ["netns", "del", probe]);
    rmSync(`${OWNER_DIR}/${id}.owner`, { force: true });
  }
}

/** Marks lab `id` as ours, before anything of it exists, so no concurrent cleanupStale takes it. */
function claim(id: string): void {
  mkdirSync(OWNER_DIR, { recursive: true });
  writeFileSync(`${OWNER_DIR}/${id}.owner`, `${process.pid} ${startTime(process.pid)}\n`);
}

export interface Pod {
  /** Namespace name (`lcpabc12-reviews-v2`). */
  ns: string;
  /** Its address on the lab bridge. */
  ip: string;
}

/** A process running inside a namespace. */
export interface NsProcess {
  name: string;
  pid: number;
  /** Last 64 KiB of stdout + stderr, for failure messages. */
  output(): string;
  exited(): boolean;
  /** Sends `signal`, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const KEEP_OUTPUT = 64 * 1024;

export class NetLab {
  readonly id: string;
  readonly prefix: string;
  /** `10.233.N` */
  readonly net: string;
  readonly bridgeNs: string;
  /** The root namespace's address on the bridge (the test client's). */
  readonly hostIp: string;
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<NsProcess & { kill(): void }>();
  private nextPort = 0;
  private destroyed = false;
  private readonly onExit = () => this.destroySync();

  private constructor(id: string, net: string) {
    this.id = id;
    this.prefix = `${LAB_PREFIX}${id}`;
    this.net = net;
    this.bridgeNs = `${this.prefix}-br`;
    this.hostIp = `${net}.1`;
  }

  /** Creates the bridge namespace, the bridge and the root namespace's port on it. */
  static async create(): Promise<NetLab> {
    const id = randomId();
    claim(id);
    const lab = new NetLab(id, await pickSubnet());
    process.once("exit", lab.onExit);
    try {
      await lab.addNamespace(lab.bridgeNs);
      const h = `${lab.prefix}h`;
      const b = `${lab.prefix}b`;
      await must("ip", ["link", "add", h, "type", "veth", "peer", "name", b, "netns", lab.bridgeNs]);
      await batch(lab.bridgeNs, [
        "link add br0 type bridge",
        "link set br0 up",
        `link set ${b} master br0`,
        `link set ${b} up`,
      ]);
      await batch(undefined, [`addr add ${lab.hostIp}/24 dev ${h}`, `link set ${h} up`]);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  private async addNamespace(ns: string): Promise<void> {
    this.namespaces.push(ns);
    await must("ip", ["netns", "add", ns]);
  }

  /**
   * A pod: namespace `<prefix>-<name>` with `eth0` at 10.233.N.<host> on the bridge, `lo` up,
   * and `hosts` (name → address lines) as its /etc/hosts.
   */
  async addPod(name: string, host: number, hosts: Readonly<Record<string, string>> = {}): Promise<Pod> {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad pod name ${name}`);
    if (host < 2 || host > 254) throw new Error(`pod address .${host} outside 2..254`);
    const ns = `${this.prefix}-${name}`;
    const ip = `${this.net}.${host}`;
    const port = `${this.prefix}p${this.nextPort++}`;
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    const lines = [
      "127.0.0.1 localhost",
      `${ip} ${name}`,
      ...Object.entries(hosts).map(([n, a]) => `${a} ${n}`),
    ];
    writeFileSync(`/etc/netns/${ns}/hosts`, `${lines.join("\n")}\n`);
    await this.addNamespace(ns);
    await must("ip", ["link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    await must("ip", ["link", "set", port, "netns", this.bridgeNs]);
    await batch(this.bridgeNs, [`link set ${port} master br0`, `link set ${port} up`]);
    await batch(ns, ["link set lo up", `addr add ${ip}/24 dev eth0`, "link set eth0 up"]);
    return { ns, ip };
  }

  /** Loads iptables rules (iptables-restore format) into a pod's namespace. */
  async iptables(pod: Pod, rules: string): Promise<void> {
    await must("ip", ["netns", "exec", pod.ns, "iptables-restore"], rules);
  }

  /** Starts `argv` inside the pod's namespace with exactly `env` (plus PATH). */
  spawn(pod: Pod, name: string, argv: readonly string[], env: Readonly<Record<string, string>>): NsProcess {
    if (this.destroyed) throw new Error("lab destroyed");
    // `ip netns exec` execs argv in place: the child's pid is the process itself.
    const child = spawn("ip", ["netns", "exec", pod.ns, ...argv], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const keep = (c: Buffer) => {
      out += c.toString();
      if (out.length > KEEP_OUTPUT * 2) out = out.slice(-KEEP_OUTPUT);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    let gone = false;
    const exit = new Promise<void>((resolve) => {
      child.once("exit", () => {
        gone = true;
        resolve();
      });
      child.once("error", (e) => {
        out += `spawn error: ${e.message}\n`;
        gone = true;
        resolve();
      });
    });
    const proc = {
      name,
      pid: child.pid ?? -1,
      output: () => out.slice(-KEEP_OUTPUT),
      exited: () => gone,
      kill: () => {
        if (!gone) child.kill("SIGKILL");
      },
      stop: async (signal: NodeJS.Signals = "SIGTERM", graceMs = 3000) => {
        if (!gone) {
          child.kill(signal);
          const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
          await exit;
          clearTimeout(timer);
        }
        this.processes.delete(proc);
      },
    };
    this.processes.add(proc);
    return proc;
  }

  /** Stops every process (SIGTERM, then SIGKILL), then deletes every namespace and link. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener("exit", this.onExit);
    await Promise.all([...this.processes].map((p) => p.stop("SIGTERM", 2000)));
    await removeLab(this.id, this.namespaces);
  }

  /** Last resort when the test process exits without afterAll: synchronous, best effort. */
  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.processes) p.kill();
    const quiet = (args: string[]) => {
      try {
        execFileSync("ip", args, { stdio: "ignore" });
      } catch {
        // best effort
      }
    };
    quiet(["link", "del", `${this.prefix}h`]);
    for (const ns of this.namespaces) {
      quiet(["netns", "del", ns]);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    rmSync(`${OWNER_DIR}/${this.id}.owner`, { force: true });
  }
}

/** `ip [-n ns] -batch -` with these commands, one per line. */
function batch(ns: string | undefined, commands: readonly string[]): Promise<string> {
  return must("ip", [...(ns ? ["-n", ns] : []), "-batch", "-"], `${commands.join("\n")}\n`);
}

function ipv4(a: string): number {
  return a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** A 10.233.N.0/24 that no address or route of the root namespace overlaps. */
async function pickSubnet(): Promise<string> {
  const text = (await must("ip", ["-4", "-o", "addr", "show"])) + (await must("ip", ["-4", "route", "show"]));
  const taken: [number, number][] = [];
  for (const m of text.matchAll(/\b(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?\b/g)) {
    const bits = m[2] === undefined ? 32 : Number(m[2]);
    const size = 2 ** (32 - bits);
    const start = Math.floor(ipv4(m[1]!) / size) * size;
    taken.push([start, start + size - 1]);
  }
  for (let tries = 0; tries < 100; tries++) {
    const net = `10.233.${100 + Math.floor(Math.random() * 150)}`;
    const lo = ipv4(`${net}.0`);
    const hi = lo + 255;
    if (!taken.some(([a, b]) => a <= hi && lo <= b)) return net;
  }
  throw new Error("no free 10.233.N.0/24 subnet");
}
