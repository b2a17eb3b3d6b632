/**
 * `lanecar sidecar` and `lanecar gateway`: parse flags (each with a LANECAR_* environment
 * variable), start the process, and drain on SIGTERM/SIGINT (exit 0).
 */
import { statSync } from "node:fs";
import { ConfigError, formatDiagnostic, parseDuration } from "@lanecar/core";
import {
  type AppProbes,
  DataPathError,
  type DiscoveryOptions,
  GATEWAY_DEFAULTS,
  GatewayNotFoundError,
  IdentityError,
  KubeApiError,
  KubernetesSyncError,
  LaneTokenKeyError,
  loadLaneTokenKey,
  type ProxyProcess,
  parseAppProbes,
  SERVER_LIMITS,
  type ServerLimits,
  SIDECAR_DEFAULTS,
  startGateway,
  startSidecar,
} from "@lanecar/proxy";
import {
  all,
  bool,
  type FlagSpec,
  httpUrlFlag,
  listenFlag,
  namespaceFlag,
  one,
  type ParsedArgs,
  parseArgs,
  UsageError,
  usage,
} from "../args.js";
import type { Io } from "../io.js";
import { loadPodLabels } from "../pod-labels.js";

const COMMON: FlagSpec[] = [
  {
    name: "config",
    short: "c",
    multiple: true,
    help: "config file or directory, watched for changes (repeatable)",
  },
  {
    name: "namespace",
    short: "n",
    default: "default",
    help: "namespace of this workload and of resources without one",
  },
  { name: "pod-labels", help: "this pod's labels, k=v,k=v" },
  { name: "pod-labels-file", help: 'this pod\'s labels, downward-API file of key="value" lines' },
  {
    name: "workload",
    help: "Istio workload name in metrics (source_workload/destination_workload); default <app>-<version> from the pod labels",
  },
  {
    name: "cluster",
    help: "Istio cluster id in metrics (source_cluster/destination_cluster); default pod label topology.istio.io/cluster",
  },
  { name: "drain-timeout", default: "5s", help: "how long in-flight requests may take to finish on SIGTERM" },
  { name: "correlation-max-entries", default: "100000", help: "correlation store entry bound" },
  { name: "correlation-ttl", default: "60s", help: "correlation store entry lifetime" },
  {
    name: "headers-timeout",
    default: "10s",
    help: "a client must send the whole header section within this (slowloris defence)",
  },
  {
    name: "request-timeout",
    default: "300s",
    help: "a client must send the whole request, body included, within this; 0s = none",
  },
  { name: "access-log", boolean: true, help: "write an access log line per request to stdout (async)" },
  {
    name: "dns-servers",
    help: "resolve ServiceEntry DNS names with these servers (ip[:port],...); default: the system resolver",
  },
  {
    name: "discovery",
    help: "`kubernetes`: services, endpoints and config from the Kubernetes API (files in --config are read too)",
  },
  {
    name: "kubeconfig",
    multiple: true,
    help: "kubeconfig of a cluster to discover (repeatable); none: the in-cluster service account",
  },
  {
    name: "context",
    multiple: true,
    help: "kubeconfig context (repeatable: one per --kubeconfig, or several clusters of one file)",
  },
  {
    name: "identity-dir",
    help: "workload identity (cert.pem, key.pem, root-cert.pem; re-read on change): mutual TLS to ISTIO_MUTUAL destinations and, on a sidecar, on inbound",
  },
  { name: "trust-domain", default: "cluster.local", help: "SPIFFE trust domain peers must belong to" },
  {
    name: "service-account",
    help: "with --identity-dir: the certificate must be spiffe://<trust-domain>/ns/<namespace>/sa/<this> (at start and on rotation)",
  },
  {
    name: "mtls-mode",
    default: "PERMISSIVE",
    help: "sidecar inbound mode where no PeerAuthentication applies: PERMISSIVE (mTLS and plaintext), STRICT (mTLS only), DISABLE",
  },
  {
    name: "credentials-dir",
    help: "TLS credentials by credentialName (Gateway tls, DestinationRule SIMPLE/MUTUAL): DIR/<name>/tls.crt, tls.key, ca.crt",
  },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

/** `--credentials-dir`: must be a readable folder (each credential is checked where it is used). */
function credentialsDir(a: ParsedArgs): string | undefined {
  const dir = one(a, "credentials-dir");
  if (dir === undefined) return undefined;
  let ok = false;
  try {
    ok = statSync(dir).isDirectory();
  } catch {}
  if (!ok) throw new UsageError(`--credentials-dir ${dir} is not a directory`);
  return dir;
}

function mtlsFlags(a: ParsedArgs) {
  const identityDir = one(a, "identity-dir");
  const trustDomain = one(a, "trust-domain")!;
  const mode = one(a, "mtls-mode")!;
  if (mode !== "STRICT" && mode !== "PERMISSIVE" && mode !== "DISABLE")
    throw new UsageError(`--mtls-mode "${mode}" is not one of STRICT, PERMISSIVE, DISABLE`);
  if (!/^[a-z0-9._-]{1,255}$/.test(trustDomain))
    throw new UsageError(`--trust-domain "${trustDomain}" is not a valid trust domain`);
  const serviceAccount = one(a, "service-account");
  if (serviceAccount !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(serviceAccount))
    throw new UsageError(`--service-account "${serviceAccount}" is not a valid service account name`);
  if (!identityDir) return undefined;
  return { identityDir, trustDomain, mode, serviceAccount, namespace: namespaceFlag(a) } as const;
}

const SIDECAR_FLAGS: FlagSpec[] = [
  COMMON[0]!,
  { name: "service", short: "s", help: "the service this sidecar serves, e.g. reviews" },
  ...COMMON.slice(1, 6),
  { name: "inbound", default: SIDECAR_DEFAULTS.inbound, help: "inbound listener (requests to the app)" },
  { name: "app", default: SIDECAR_DEFAULTS.app, help: "the local app" },
  {
    name: "outbound",
    default: SIDECAR_DEFAULTS.outbound,
    help: "outbound listener (the app's calls; HTTP_PROXY target)",
  },
  { name: "admin", default: SIDECAR_DEFAULTS.admin, help: "admin API" },
  {
    name: "app-probes",
    help: "kubelet's app probes to answer on the admin port (JSON by /app-health/... path; written by lanecar inject)",
  },
  ...COMMON.slice(6),
];

/** `--app-probes`: the app's HTTP probes the injector moved to the admin port. */
function appProbesFlag(a: ParsedArgs): AppProbes | undefined {
  const text = one(a, "app-probes");
  if (text === undefined) return undefined;
  try {
    return parseAppProbes(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const GATEWAY_FLAGS: FlagSpec[] = [
  COMMON[0]!,
  {
    name: "gateway",
    short: "g",
    help: "the Gateway resource to serve (name or ns/name); default: the only one",
  },
  ...COMMON.slice(1, 6),
  {
    name: "listen",
    default: GATEWAY_DEFAULTS.listen,
    help: "listener for client requests (the Gateway's HTTP servers)",
  },
  {
    name: "listen-https",
    help: `listener for the Gateway's HTTPS servers (TLS SIMPLE/MUTUAL, chosen by SNI); default ${GATEWAY_DEFAULTS.listenHttps}, opened when the Gateway has HTTPS servers`,
  },
  {
    name: "lane-token-key-file",
    help: "HMAC key (>= 32 bytes) for signed lane tokens (x-lanecar-lane-token); see `lanecar lane-token`",
  },
  { name: "admin", default: GATEWAY_DEFAULTS.admin, help: "admin API" },
  ...COMMON.slice(6),
];

function duration(a: ParsedArgs, name: string): number {
  const v = one(a, name)!;
  const ms = parseDuration(v);
  if (ms === undefined) throw new UsageError(`--${name} "${v}" is not a duration such as 5s`);
  return ms;
}

function positive(a: ParsedArgs, name: string): number {
  const ms = duration(a, name);
  if (ms < 1) throw new UsageError(`--${name} "${one(a, name)}" must be longer than 0`);
  return ms;
}

function count(a: ParsedArgs, name: string): number {
  const v = one(a, name)!;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} "${v}" is not a positive integer`);
  return Number(v);
}

const DNS_SERVER =
  /^(?:\d{1,3}(?:\.\d{1,3}){3}(?::(\d{1,5}))?|\[[0-9A-Fa-f:.]+\](?::(\d{1,5}))?|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)$/;

/** `--dns-servers ip[:port],...` (IP addresses only: the servers cannot be looked up by name). */
function dnsServers(v: string | undefined): string[] | undefined {
  if (v === undefined || v === "") return undefined;
  return v.split(",").map((s) => {
    const m = DNS_SERVER.exec(s.trim());
    const port = m?.[1] ?? m?.[2];
    if (!m || (port !== undefined && (Number(port) < 1 || Number(port) > 65535)))
      throw new UsageError(`--dns-servers "${s}" is not an IP address with an optional :port`);
    return s.trim();
  });
}

function serverLimits(a: ParsedArgs): ServerLimits {
  const headersTimeoutMs = duration(a, "headers-timeout");
  const requestTimeoutMs = duration(a, "request-timeout");
  if (headersTimeoutMs < 1) throw new UsageError("--headers-timeout must be positive");
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs)
    throw new UsageError("--headers-timeout must not exceed --request-timeout");
  return { ...SERVER_LIMITS, headersTimeoutMs, requestTimeoutMs };
}

/** `--discovery kubernetes` with its clusters: `--kubeconfig` / `--context` pairs. */
function discoveryFlags(a: ParsedArgs): DiscoveryOptions | undefined {
  const d = one(a, "discovery");
  const files = all(a, "kubeconfig");
  const contexts = all(a, "context");
  if (d === undefined) {
    if (files.length > 0 || contexts.length > 0)
      throw new UsageError("--kubeconfig and --context need --discovery kubernetes");
    return undefined;
  }
  if (d !== "kubernetes") throw new UsageError(`--discovery "${d}" is not supported (kubernetes)`);
  if (files.length === 0) {
    if (contexts.length > 0) throw new UsageError("--context needs --kubeconfig");
    return { kind: "kubernetes", clusters: [] };
  }
  if (contexts.length === 0)
    return { kind: "kubernetes", clusters: files.map((kubeconfig) => ({ kubeconfig })) };
  if (files.length === 1)
    return { kind: "kubernetes", clusters: contexts.map((context) => ({ kubeconfig: files[0]!, context })) };
  if (files.length === contexts.length)
    return {
      kind: "kubernetes",
      clusters: files.map((kubeconfig, i) => ({ kubeconfig, context: contexts[i]! })),
    };
  throw new UsageError("give one --context per --kubeconfig, or one --kubeconfig with several --context");
}

/** `--workload`/`--cluster`: a label value (Kubernetes rules), as it appears in every series. */
function metricLabel(a: ParsedArgs, name: string): string | undefined {
  const v = one(a, name);
  if (v === undefined) return undefined;
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(v))
    throw new UsageError(`--${name} "${v}" is not a valid name (letters, digits, '.', '_', '-'; at most 63)`);
  return v;
}

function common(a: ParsedArgs) {
  const config = [...all(a, "config"), ...a.positionals];
  const discovery = discoveryFlags(a);
  if (config.length === 0 && !discovery)
    throw new UsageError("--config PATH is required (or --discovery kubernetes)");
  return {
    config,
    discovery,
    namespace: namespaceFlag(a),
    podLabels: loadPodLabels(one(a, "pod-labels"), one(a, "pod-labels-file")),
    workload: metricLabel(a, "workload"),
    cluster: metricLabel(a, "cluster"),
    drainTimeoutMs: duration(a, "drain-timeout"),
    correlation: { maxEntries: count(a, "correlation-max-entries"), ttlMs: positive(a, "correlation-ttl") },
    accessLog: bool(a, "access-log"),
    limits: serverLimits(a),
    dnsServers: dnsServers(one(a, "dns-servers")),
    mtls: mtlsFlags(a),
    credentialsDir: credentialsDir(a),
  };
}

/** Discovery start-up failures name their cluster (`kubernetes:<context> ...`). */
function isDiscoveryError(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("kubernetes:");
}

async function run(io: Io, start: () => Promise<ProxyProcess>, what: string): Promise<number> {
  let p: ProxyProcess;
  try {
    p = await start();
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`lanecar ${what}: config is invalid:`);
      for (const d of err.diagnostics) if (d.severity === "error") io.err(formatDiagnostic(d));
      return 1;
    }
    if (err instanceof GatewayNotFoundError) throw new UsageError(err.message);
    if (err instanceof DataPathError || err instanceof IdentityError) {
      io.err(`lanecar ${what}: ${err.message}`);
      return 1;
    }
    if (err instanceof KubernetesSyncError || err instanceof KubeApiError || isDiscoveryError(err)) {
      io.err(`lanecar ${what}: ${(err as Error).message}`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE" || e.code === "EACCES" || e.code === "EADDRNOTAVAIL") {
      io.err(`lanecar ${what}: cannot listen: ${e.message}`);
      return 1;
    }
    throw err;
  }
  const list = [...p.addresses].map(([n, a]) => `${n}=${a.address}:${a.port}`).join(" ");
  p.log.info(`lanecar ${what} ready: ${list} config=${p.rt.config.current.version}`);
  return new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      p.log.info(`${sig}: draining`);
      p.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

export async function sidecarCommand(argv: string[], io: Io): Promise<number> {
  const a = parseArgs(argv, SIDECAR_FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(
      usage(
        "sidecar",
        "--config PATH... | --discovery kubernetes [--kubeconfig FILE [--context NAME]]... --service HOST [flags]",
        SIDECAR_FLAGS,
      ),
    );
    return 0;
  }
  const c = common(a);
  const service = one(a, "service");
  if (!service) throw new UsageError("--service HOST is required");
  return run(
    io,
    () =>
      startSidecar({
        ...c,
        service,
        inbound: listenFlag(a, "inbound"),
        app: httpUrlFlag(a, "app"),
        outbound: listenFlag(a, "outbound"),
        admin: listenFlag(a, "admin"),
        appProbes: appProbesFlag(a),
      }),
    "sidecar",
  );
}

export async function gatewayCommand(argv: string[], io: Io): Promise<number> {
  const a = parseArgs(argv, GATEWAY_FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(
      usage(
        "gateway",
        "--config PATH... | --discovery kubernetes [--kubeconfig FILE [--context NAME]]... [--gateway NAME] [flags]",
        GATEWAY_FLAGS,
      ),
    );
    return 0;
  }
  const c = common(a);
  const keyFile = one(a, "lane-token-key-file");
  let laneTokenKey: Buffer | undefined;
  try {
    laneTokenKey = keyFile ? loadLaneTokenKey(keyFile) : undefined;
  } catch (err) {
    if (err instanceof LaneTokenKeyError) throw new UsageError(err.message);
    throw err;
  }
  const gateway = one(a, "gateway");
  const listen = listenFlag(a, "listen");
  const listenHttps = one(a, "listen-https") === undefined ? undefined : listenFlag(a, "listen-https");
  const admin = listenFlag(a, "admin");
  return run(io, () => startGateway({ ...c, laneTokenKey, gateway, listen, listenHttps, admin }), "gateway");
}
