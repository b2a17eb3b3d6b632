/**
 * One Lanecar process: the shared runtime (config source, health, pools, correlation store,
 * metrics), its listeners, and the admin API — with the life cycle of SPEC section 10:
 * `/ready` is 503 until every listener is up and while draining; SIGTERM drains (in-flight
 * requests finish, keep-alive responses carry `Connection: close`; the outbound listener serves
 * the app's calls until inbound is done) and the process exits 0.
 */
import type { AddressInfo } from "node:net";
import type { ConfigSnapshot } from "@lanecar/core";
import type { FastifyInstance } from "fastify";
import { dumpClusters, startAdmin } from "../admin/admin-server.js";
import { ConfigSource } from "../config-source/config-source.js";
import { DnsEndpoints, ServerDnsSource, SystemDnsSource } from "../endpoint-dns/index.js";
import { DataPathError, dataPath, describeDataPath } from "../fallback/data-path.js";
import { LaneTokenVerifier } from "../gateway/lane-token.js";
import { H1Server, type SocketGate } from "../h1/server.js";
import {
  createProxyServer,
  drainServer,
  type Handler,
  type ListenerServer,
  listen,
  SERVER_LIMITS,
  type ServerLimits,
} from "../http/server.js";
import { CredentialStore } from "../identity/credentials.js";
import { MeshTls, type MeshTlsOptions } from "../identity/mesh-tls.js";
import type { AppProbes } from "../kubernetes/app-probes.js";
import type { ProxyRuntime, WorkloadIdentity } from "../runtime.js";
import { AccessLog } from "../telemetry/access-log.js";
import type { TracingHandle } from "../tracing/hop-tracer.js";
import { tracingEnabled } from "../tracing/tracing-enabled.js";
import { POOL_DEFAULTS, UpstreamPools } from "../upstream/pools.js";
import type { SnapshotSource } from "./snapshot-source.js";
import { createWiring, type Wiring } from "./wiring.js";

export interface Logger {
  info(msg: string): void;
  error(msg: string): void;
}

export const stderrLogger: Logger = {
  info: (m) => process.stderr.write(`${new Date().toISOString()} info ${m}\n`),
  error: (m) => process.stderr.write(`${new Date().toISOString()} error ${m}\n`),
};

export interface ProcessOptions {
  config: readonly string[];
  identity: WorkloadIdentity;
  admin: string | undefined;
  drainTimeoutMs?: number;
  correlation?: { maxEntries?: number; ttlMs?: number; maxBytes?: number };
  pollMs?: number;
  limits?: ServerLimits;
  logger?: Logger;
  /** One line per request on stdout (`--access-log`). */
  accessLog?: boolean;
  /** Gateway: HMAC key for signed lane tokens. */
  laneTokenKey?: Buffer;
  /** DNS servers (`host:port`) for ServiceEntry DNS names instead of the system resolver. */
  dnsServers?: readonly string[];
  /** Where config comes from when not (only) from `config` files: Kubernetes discovery. */
  source?: SnapshotSource;
  /** Mutual TLS with the workload identity in `identityDir` (`--identity-dir`). */
  mtls?: MeshTlsOptions;
  /** Where `credentialName`s are read (`--credentials-dir`): one folder per Secret. */
  credentialsDir?: string;
  /** Kubelet's app probes answered on the admin port (`--app-probes`, set by the injector). */
  appProbes?: AppProbes;
}

export interface ListenerSpec {
  name: string;
  address: string;
  /** `mesh`: the workload identity when `--identity-dir` is given; `log` the process's logger. */
  handler: (rt: ProxyRuntime, mesh: MeshTls | undefined, log: Logger) => Handler;
  /**
   * Keeps accepting while the other listeners drain, and drains only once they are done (or the
   * drain timeout is up): the sidecar's outbound listener, which serves the calls the app makes
   * for requests still in flight on inbound (Istio drains inbound only).
   */
  drainsLast?: boolean;
  /**
   * Accepts mutual TLS when an identity is configured, in the mode `mesh.inboundMode()` gives
   * for each new connection (the sidecar's inbound: PeerAuthentication, else `--mtls-mode`).
   */
  meshInbound?: boolean;
  /** Decides what each accepted socket becomes (the gateway's HTTPS listener: edge TLS). */
  gate?: (rt: ProxyRuntime) => SocketGate;
}

export class ProxyProcess {
  readonly rt: ProxyRuntime;
  private readonly servers = new Map<string, ListenerServer>();
  private readonly drainLast = new Set<ListenerServer>();
  readonly addresses = new Map<string, AddressInfo>();
  private admin: FastifyInstance | undefined;
  private state: "PRE_INITIALIZING" | "LIVE" | "DRAINING" = "PRE_INITIALIZING";
  private drained: Promise<void> | undefined;
  private readonly wiring: Wiring;
  private tracing: TracingHandle | undefined;
  /** The workload identity and its TLS contexts, when `--identity-dir` is given. */
  readonly mesh: MeshTls | undefined;
  /** ServiceEntry DNS names, resolved and re-resolved on TTL for the upstream connections. */
  readonly dns: DnsEndpoints;
  readonly log: Logger;
  /** More sections of `/config_dump`, by name (the gateway's TLS servers). */
  readonly dumps = new Map<string, () => unknown>();

  private constructor(
    private readonly opts: ProcessOptions,
    config: SnapshotSource,
    mesh: MeshTls | undefined,
  ) {
    this.log = opts.logger ?? stderrLogger;
    this.mesh = mesh;
    // A DNS name whose answer changed: its pools are retired, so new connections use the new addresses.
    const retire = (name: string) => pools.retireHost(name);
    this.dns = new DnsEndpoints({
      source: opts.dnsServers?.length ? new ServerDnsSource(opts.dnsServers) : new SystemDnsSource(),
      onChange: retire,
    });
    // DestinationRules with a workloadSelector apply to this workload only if it matches.
    const scope = (snap: ConfigSnapshot) =>
      snap.registry.scopeTo(opts.identity.namespace, opts.identity.podLabels);
    scope(config.current);
    this.dns.setNames(config.current.registry.dnsNames());
    const credentials = opts.credentialsDir ? new CredentialStore(opts.credentialsDir) : undefined;
    const pools = new UpstreamPools({ ...POOL_DEFAULTS, lookup: this.dns.lookup, mesh, credentials });
    // Probes ride mTLS only with an identity; without one the data path's 503 UF says why.
    this.wiring = createWiring(config.current, opts, pools.connectFailures, mesh ? pools.plans : undefined);
    this.rt = {
      config,
      pools,
      health: this.wiring.health,
      correlation: this.wiring.correlation,
      metrics: this.wiring.metrics,
      identity: opts.identity,
      tracer: undefined,
      laneTokens: opts.laneTokenKey ? new LaneTokenVerifier(opts.laneTokenKey) : undefined,
      accessLog: opts.accessLog ? new AccessLog() : undefined,
      credentials,
    };
    let applied = config.current;
    config.on("reload", (snap: ConfigSnapshot) => {
      // An endpoint-only swap (discovery) shares the config: health and pools follow, no reload.
      const endpointsOnly = snap.resources === applied.resources;
      applied = snap;
      scope(snap);
      this.wiring.onConfig(snap);
      this.dns.setNames(snap.registry.dnsNames());
      pools.retain(new Set(snap.registry.allEndpoints().map((e) => e.key)));
      if (endpointsOnly) return;
      this.wiring.configReload("success");
      this.log.info(`config ${snap.version} applied (${snap.resources.length} resources)`);
    });
    config.on("error", (e) => {
      this.wiring.configReload("error");
      this.log.error(
        `config change rejected; still serving ${config.current.version}:\n  ${e.errors.join("\n  ")}`,
      );
    });
  }

  /** Loads config (throws ConfigError when invalid), starts the listeners and the admin API. */
  static async start(opts: ProcessOptions, listeners: readonly ListenerSpec[]): Promise<ProxyProcess> {
    const path = dataPath();
    // The fallback has no TLS hooks: refusing beats serving plaintext where mTLS was asked for.
    if (opts.mtls && path.kind === "node")
      throw new DataPathError(
        `--identity-dir: mutual TLS runs only on Lanecar's HTTP/1.1 codec, not on the node:http fallback (${path.reason})`,
      );
    // Loaded before config: a missing or broken identity is a one-line error (IdentityError).
    const mesh = opts.mtls ? new MeshTls({ log: opts.logger ?? stderrLogger, ...opts.mtls }) : undefined;
    const config =
      opts.source ??
      ConfigSource.load(opts.config, {
        namespace: opts.identity.namespace,
        pollMs: opts.pollMs,
      });
    const p = new ProxyProcess(opts, config, mesh);
    p.log.info(describeDataPath(path));
    if (mesh) {
      const st = mesh.status();
      p.log.info(`identity ${st.spiffeId} (${st.fingerprint256}); inbound mTLS ${st.inboundMode}`);
    }
    try {
      if (opts.admin) {
        const { parseListen } = await import("../http/server.js");
        const a = parseListen(opts.admin);
        p.admin = await startAdmin(a.host, a.port, {
          state: () => p.state,
          metrics: () => p.wiring.renderMetrics(),
          configDump: () => p.configDump(),
          clusters: () => dumpClusters(p.rt.config.current, (k) => p.wiring.endpointHealth(k)),
          drain: () => p.drain(),
          appProbes: opts.appProbes,
        });
        const addr = p.admin.server.address() as AddressInfo;
        p.addresses.set("admin", addr);
      }
      for (const l of listeners) {
        const server = createProxyServer(l.handler(p.rt, mesh, p.log), opts.limits ?? SERVER_LIMITS);
        if (mesh && l.meshInbound && server instanceof H1Server) server.gate = mesh.accept;
        if (l.gate && server instanceof H1Server) server.gate = l.gate(p.rt);
        p.servers.set(l.name, server);
        if (l.drainsLast) p.drainLast.add(server);
        p.addresses.set(l.name, await listen(server, l.address));
      }
      if (tracingEnabled()) {
        // Loaded only when on: with tracing off, OpenTelemetry is never loaded.
        const { startTracing } = await import("../tracing/hop-tracer.js");
        p.tracing = await startTracing(opts.identity.workload);
        p.rt.tracer = p.tracing.tracer;
      }
      config.start();
      // Endpoints with probes get a first result before /ready says LIVE, so a dead lane is known.
      await p.wiring.start();
      p.state = "LIVE";
      return p;
    } catch (err) {
      await p.close();
      throw err;
    }
  }

  configDump(): unknown {
    const c = this.rt.config;
    const snap = c.current;
    return {
      version: snap.version,
      loadedAt: c.loadedAt,
      sources: snap.files,
      reloads: c.counts,
      lastReloadError: c.lastError ?? null,
      warnings: snap.warnings.map(
        (w) => `${w.file}:${w.line}:${w.col} ${w.resource}: ${w.path}: ${w.message}`,
      ),
      resources: snap.resources.map((r) => ({
        kind: r.kind,
        apiVersion: r.apiVersion,
        namespace: r.namespace,
        name: r.name,
        file: r.source.file,
        spec: r.spec,
      })),
      identity: this.rt.identity,
      workloadCertificate: this.mesh ? this.mesh.status() : null,
      ...(c.dump ? { discovery: c.dump() } : {}),
      ...Object.fromEntries([...this.dumps].map(([k, f]) => [k, f()])),
    };
  }

  /**
   * Graceful drain: /ready 503; the inbound-facing listeners stop accepting and finish their
   * in-flight requests while the `drainsLast` ones (outbound) keep serving; then those drain too,
   * within what is left of the same timeout. Idempotent.
   */
  drain(timeoutMs = this.opts.drainTimeoutMs ?? 5000): Promise<void> {
    if (!this.drained) {
      this.state = "DRAINING";
      const deadline = Date.now() + timeoutMs;
      const servers = [...this.servers.values()];
      const first = servers.filter((s) => !this.drainLast.has(s));
      const last = servers.filter((s) => this.drainLast.has(s));
      this.drained = Promise.all(first.map((s) => drainServer(s, timeoutMs)))
        .then(() => Promise.all(last.map((s) => drainServer(s, Math.max(0, deadline - Date.now())))))
        .then(() => undefined);
    }
    return this.drained;
  }

  /** Drains, then releases everything (pools, timers, admin). */
  async close(): Promise<void> {
    await this.drain();
    this.rt.config.stop();
    this.wiring.stop();
    this.dns.stop();
    this.mesh?.stop();
    await this.rt.pools.close();
    if (this.admin) await this.admin.close();
    if (this.tracing) await this.tracing.shutdown().catch(() => {});
  }
}
