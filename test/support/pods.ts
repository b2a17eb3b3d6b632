/**
 * Bookinfo in pod mode: every instance of `topology.ts` is a "pod" — its own network namespace
 * on the lab bridge, with the app and its `lanecar sidecar` inside — and the gateway is a pod of
 * its own. The layout is the docker-compose one (app 127.0.0.1:9080, sidecar inbound
 * 0.0.0.0:15006, outbound 127.0.0.1:15001), wired like Istio's init container does it:
 *
 * - `/etc/hosts` of each pod maps the service names to virtual IPs 10.96.0.x (ClusterIP-like,
 *   routed out of eth0 where nothing answers them), so an app's call (`http://reviews:9080/...`,
 *   no HTTP_PROXY) only works through the capture rules;
 * - the capture rules are `lanecar iptables`' own (packages/cli/src/kube/capture-rules.ts), with
 *   outbound capture limited to the VIP range: the app's calls to a VIP go to the sidecar outbound,
 *   which sees origin-form requests with `Host: reviews:9080`; inbound connections to the app's
 *   port 9080 go to the sidecar inbound 15006 (as in an injected pod); the sidecar runs as UID 1337, so
 *   its own connections are left alone (and its probe of its own pod IP goes through inbound).
 *
 * Config: `config/shared/` copied into a temp dir, plus one generated file per instance with its
 * WorkloadEntry (pod IP, port 9080) and WorkloadGroup probe (`GET /health` on port 9080, which
 * PREROUTING sends through the sidecar to the app). Admin APIs listen on the pod IP (port 15000) so
 * the test, outside the pods, can read `/ready` and `/clusters`.
 *
 * Mutual TLS as in `pnpm demo`: every sidecar and the gateway get an identity (issued into the
 * temp dir, the sidecars' owned by UID 1337 so they can read their key) and `--identity-dir`;
 * sidecars are STRICT, so this process reaches a pod's port 9080 with mTLS (`mtlsGet`, as the
 * gateway's identity), and a plaintext request there is refused.
 */
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DemoIdentities, issueDemoIdentities } from "../../examples/bookinfo/src/demo/identities.js";
import { workloadYaml } from "../../examples/bookinfo/src/demo/instance-config.js";
import { writePlaintextConfig } from "../../examples/bookinfo/src/demo/plaintext-config.js";
import {
  CONFIG_DIRS,
  exampleFile,
  gatewayArgs,
  INSTANCES,
  type Instance,
  SERVICE_PORT,
  SERVICES,
  type ServiceName,
  sidecarArgs,
} from "../../examples/bookinfo/src/topology.js";
import { CAPTURE_DEFAULTS, natTable } from "../../packages/cli/src/kube/capture-rules.js";
import { loadWorkloadCert } from "../../packages/proxy/src/identity/index.js";
import { LANECAR_BIN } from "./lanecar.js";
import { must, type NetLab, type NsProcess, type Pod } from "./netns.js";

/** Ports inside every pod (docker-compose layout). */
export const POD_PORTS = { app: SERVICE_PORT, inbound: 15006, outbound: 15001, admin: 15000 } as const;
/** Gateway listener port (the Gateway resource's server port). */
export const GATEWAY_PORT = 8080;

export const APP_ENTRY = fileURLToPath(new URL("../../examples/bookinfo/dist/service.js", import.meta.url));

/** Virtual IP of a service inside every pod: 10.96.0.<1 + index>. */
export function serviceVip(s: ServiceName): string {
  return `10.96.0.${SERVICES.indexOf(s) + 1}`;
}

const VIP_RANGE = "10.96.0.0/24";
/** The sidecar's UID and GID, exempt from capture (as `lanecar-proxy` in an injected pod). */
const PROXY_UID = String(CAPTURE_DEFAULTS.proxyUid);
const GATEWAY_HOST = 2;
const FIRST_POD_HOST = 10;

/** The rules `lanecar-init` installs in a pod (iptables-restore format), outbound capture limited to the VIPs. */
export function podIptables(): string {
  const { inbound, outbound, admin } = POD_PORTS;
  return natTable(
    {
      ...CAPTURE_DEFAULTS,
      inboundPort: inbound,
      outboundPort: outbound,
      adminPort: admin,
      includeOutboundCidrs: [VIP_RANGE],
      includeInboundPorts: [POD_PORTS.app],
    },
    4,
  );
}

/** One instance's WorkloadEntry (its pod IP, port 9080) and WorkloadGroup (probe on 9080). */
export function instanceYaml(i: Instance, ip: string): string {
  return workloadYaml(i, ip, POD_PORTS.app, [
    `${i.name} (${i.summary}), pod mode: a network namespace at ${ip}. Port 9080 is redirected to the sidecar inbound.`,
  ]);
}

export interface PodInstance {
  instance: Instance;
  pod: Pod;
  app?: NsProcess;
  sidecar?: NsProcess;
}

/**
 * `GET http://<ip>:<port><path>` over mutual TLS with the identity in `identityDir` (the server's
 * SPIFFE ID is not checked here: the chain to the root is).
 */
export function mtlsGet(
  identityDir: string,
  ip: string,
  port: number,
  path: string,
  timeoutMs = 2000,
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  const id = loadWorkloadCert(identityDir);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: ip,
        port,
        path,
        cert: id.certPem,
        key: id.keyPem,
        ca: id.rootPem,
        checkServerIdentity: () => undefined,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

async function fetchText(
  url: string,
  timeoutMs = 2000,
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, text: await r.text(), headers: Object.fromEntries(r.headers) };
}

/** Polls `check` every `everyMs` until it returns true; throws with `what()` after `timeoutMs`. */
export async function until(
  what: () => string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = ` (last error: ${(e as Error).message})`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}${last}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface ClusterDump {
  name: string;
  endpoints: { address: string; port: number; health: { healthy: boolean } }[];
}

export class BookinfoPods {
  readonly instances = new Map<string, PodInstance>();
  gateway?: NsProcess;
  gatewayPod!: Pod;
  /** The proxies' identities; undefined without mTLS (`create(lab, false)`, as `pnpm demo --no-mtls`). */
  identities: DemoIdentities | undefined;

  private constructor(
    readonly lab: NetLab,
    /** Temp dir with the generated config (`shared/`, `pods/`). */
    readonly configDir: string,
  ) {}

  /** Temp dir with the identities (removed on close). */
  private identityDir: string | undefined;

  /** Namespaces, hosts files and iptables for the gateway and every instance; the config. Starts nothing. */
  static async create(lab: NetLab, mtls = true): Promise<BookinfoPods> {
    const dir = mkdtempSync(join(tmpdir(), `lanecar-pods-${lab.id}-`));
    chmodSync(dir, 0o755); // the sidecars run as UID 1337 and read the config
    const self = new BookinfoPods(lab, dir);
    const hosts = Object.fromEntries(SERVICES.map((s) => [s, serviceVip(s)]));
    self.gatewayPod = await lab.addPod("gw", GATEWAY_HOST);
    const pods = await Promise.all(
      INSTANCES.map(async (instance, k) => {
        const pod = await lab.addPod(instance.name, FIRST_POD_HOST + k, hosts);
        await must("ip", ["-n", pod.ns, "route", "add", VIP_RANGE, "dev", "eth0"]);
        await lab.iptables(pod, podIptables());
        return { instance, pod };
      }),
    );
    if (mtls) {
      cpSync(exampleFile(CONFIG_DIRS.shared), join(dir, "shared"), { recursive: true });
      cpSync(exampleFile(CONFIG_DIRS.security), join(dir, "security"), { recursive: true });
    } else writePlaintextConfig(join(dir, "shared"));
    mkdirSync(join(dir, "pods"));
    for (const p of pods) {
      self.instances.set(p.instance.name, p);
      writeFileSync(join(dir, "pods", `${p.instance.name}.yaml`), instanceYaml(p.instance, p.pod.ip));
    }
    if (mtls) self.issueIdentities(lab);
    return self;
  }

  /** Identities outside the config dir (the sidecars watch that); the sidecars' readable by UID 1337. */
  private issueIdentities(lab: NetLab): void {
    const idDir = mkdtempSync(join(tmpdir(), `lanecar-pods-${lab.id}-identity-`));
    chmodSync(idDir, 0o755);
    this.identityDir = idDir;
    this.identities = issueDemoIdentities(join(idDir, "id"));
    chmodSync(join(idDir, "id"), 0o755);
    for (const d of this.identities.instances.values())
      for (const f of ["", ...readdirSync(d)]) chownSync(join(d, f), Number(PROXY_UID), Number(PROXY_UID));
  }

  /** `GET <pod ip>:9080<path>` as a mesh client: mTLS with the gateway's identity, or plaintext without mTLS. */
  podGet(name: string, path: string, timeoutMs = 2000) {
    const ip = this.get(name).pod.ip;
    return this.identities
      ? mtlsGet(this.identities.gateway, ip, POD_PORTS.app, path, timeoutMs)
      : fetchText(`http://${ip}:${POD_PORTS.app}${path}`, timeoutMs);
  }

  get gatewayUrl(): string {
    return `http://${this.gatewayPod.ip}:${GATEWAY_PORT}`;
  }

  get(name: string): PodInstance {
    const p = this.instances.get(name);
    if (!p) throw new Error(`no instance ${name}`);
    return p;
  }

  /** Admin base URLs of the proxies running now (gateway and sidecars). */
  runningAdmins(): { name: string; url: string }[] {
    const out: { name: string; url: string }[] = [];
    if (this.gateway && !this.gateway.exited())
      out.push({ name: "gateway", url: `http://${this.gatewayPod.ip}:${POD_PORTS.admin}` });
    for (const p of this.instances.values()) {
      if (p.sidecar && !p.sidecar.exited())
        out.push({ name: `${p.instance.name}-sidecar`, url: `http://${p.pod.ip}:${POD_PORTS.admin}` });
    }
    return out;
  }

  private async waitReady(proc: NsProcess, adminUrl: string): Promise<void> {
    await until(
      () => `${proc.name} /ready at ${adminUrl}\n${proc.output()}`,
      async () => {
        if (proc.exited()) throw new Error(`${proc.name} exited:\n${proc.output()}`);
        return (await fetchText(`${adminUrl}/ready`, 1000)).status === 200;
      },
      30_000,
    );
  }

  async startGateway(): Promise<void> {
    const ip = this.gatewayPod.ip;
    this.gateway = this.lab.spawn(
      this.gatewayPod,
      "gateway",
      [
        process.execPath,
        LANECAR_BIN,
        ...gatewayArgs(
          [this.configDir],
          `0.0.0.0:${GATEWAY_PORT}`,
          `${ip}:${POD_PORTS.admin}`,
          this.identities?.gateway,
        ),
      ],
      {},
    );
    await this.waitReady(this.gateway, `http://${ip}:${POD_PORTS.admin}`);
  }

  /**
   * Starts an instance's app and sidecar in its pod; resolves when the sidecar is ready and
   * `GET <pod ip>:9080/health` (PREROUTING → sidecar inbound → app) answers 200.
   */
  async start(name: string): Promise<void> {
    const p = this.get(name);
    const { instance: i, pod } = p;
    // No HTTP_PROXY: the app calls http://<service>:9080 by name; iptables does the rest.
    p.app = this.lab.spawn(pod, `${name}-app`, [process.execPath, APP_ENTRY], {
      SERVICE: i.service,
      VERSION: i.version,
      PORT: String(POD_PORTS.app),
      BIND: "127.0.0.1",
    });
    p.sidecar = this.lab.spawn(
      pod,
      `${name}-sidecar`,
      [
        "setpriv",
        "--reuid",
        PROXY_UID,
        "--regid",
        PROXY_UID,
        "--clear-groups",
        process.execPath,
        LANECAR_BIN,
        ...sidecarArgs(
          i,
          [this.configDir],
          {
            inbound: `0.0.0.0:${POD_PORTS.inbound}`,
            app: `http://127.0.0.1:${POD_PORTS.app}`,
            outbound: `127.0.0.1:${POD_PORTS.outbound}`,
            admin: `${pod.ip}:${POD_PORTS.admin}`,
          },
          this.identities?.instances.get(name),
        ),
      ],
      {},
    );
    await this.waitReady(p.sidecar, `http://${pod.ip}:${POD_PORTS.admin}`);
    const app = p.app;
    await until(
      () =>
        `${name}: GET https://${pod.ip}:${POD_PORTS.app}/health (mTLS) through the sidecar\n${app.output()}`,
      async () => {
        if (app.exited()) throw new Error(`${app.name} exited:\n${app.output()}`);
        return (await this.podGet(name, "/health", 1000)).status === 200;
      },
      15_000,
    );
  }

  /** Kills an instance: its app dies (SIGKILL, a crash) and its sidecar stops (SIGTERM). The pod stays. */
  async kill(name: string): Promise<void> {
    const p = this.get(name);
    await p.app?.stop("SIGKILL");
    await p.sidecar?.stop("SIGTERM", 3000);
    p.app = undefined;
    p.sidecar = undefined;
  }

  /** Health of an instance's endpoint (pod ip:9080) as each running proxy sees it. */
  async endpointHealth(name: string): Promise<Record<string, boolean | undefined>> {
    const ip = this.get(name).pod.ip;
    const out: Record<string, boolean | undefined> = {};
    await Promise.all(
      this.runningAdmins().map(async (a) => {
        const r = await fetchText(`${a.url}/clusters?format=json`);
        const clusters = JSON.parse(r.text) as ClusterDump[];
        let healthy: boolean | undefined;
        for (const c of clusters)
          for (const e of c.endpoints)
            if (e.address === ip && e.port === POD_PORTS.app) healthy = e.health.healthy;
        out[a.name] = healthy;
      }),
    );
    return out;
  }

  /** Waits (bounded) until every running proxy sees the instance as `healthy` (probe / outlier detection). */
  async waitEndpoint(name: string, healthy: boolean, timeoutMs = 15_000): Promise<void> {
    let last: Record<string, boolean | undefined> = {};
    await until(
      () => `${name} ${healthy ? "healthy" : "down"} everywhere; last seen ${JSON.stringify(last)}`,
      async () => {
        last = await this.endpointHealth(name);
        return Object.values(last).every((h) => h === healthy);
      },
      timeoutMs,
      200,
    );
  }

  /** Output of every process of the lab (for failure messages). */
  logs(): string {
    const parts: string[] = [];
    if (this.gateway) parts.push(`--- gateway\n${this.gateway.output()}`);
    for (const p of this.instances.values()) {
      if (p.app) parts.push(`--- ${p.app.name}\n${p.app.output()}`);
      if (p.sidecar) parts.push(`--- ${p.sidecar.name}\n${p.sidecar.output()}`);
    }
    return parts.join("\n");
  }

  /** The environment the app process runs with (`/proc/<pid>/environ`). */
  appEnviron(name: string): Record<string, string> {
    const app = this.get(name).app;
    if (!app) throw new Error(`${name} is not running`);
    const raw = readFileSync(`/proc/${app.pid}/environ`, "utf8");
    return Object.fromEntries(
      raw
        .split("\0")
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    );
  }

  /** Listening TCP sockets in an instance's pod (`ss -Hltn`), as `address:port`. */
  async listening(name: string): Promise<string[]> {
    const out = await must("ip", ["netns", "exec", this.get(name).pod.ns, "ss", "-Hltn"]);
    return out
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[3])
      .filter((a): a is string => a !== undefined);
  }

  /** Stops every process and deletes the lab and the config. */
  async close(): Promise<void> {
    try {
      await this.lab.destroy();
    } finally {
      rmSync(this.configDir, { recursive: true, force: true });
      if (this.identityDir) rmSync(this.identityDir, { recursive: true, force: true });
    }
  }
}
