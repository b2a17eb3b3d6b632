/**
 * Options of one Bookinfo service process, from flags (`--service reviews --version v2
 * --port 9083`) or the environment (`SERVICE`, `VERSION`, `PORT`, `BIND`, `HTTP_PROXY`,
 * `DOWNSTREAM_TIMEOUT_MS`, `FAIL_PERCENT`). A flag wins over the environment.
 */
import { SERVICES, type ServiceName } from "../topology.js";

export interface ServiceOptions {
  service: ServiceName;
  version: string;
  /** 0 = any free port (tests). */
  port: number;
  /** Address to listen on. Default 127.0.0.1: in a pod only the sidecar (same network namespace) reaches the app. */
  bind: string;
  /** The sidecar's outbound listener (`HTTP_PROXY`); undefined = call services by name directly. */
  proxy: URL | undefined;
  /** Timeout of each call to another service. */
  timeoutMs: number;
  /** Share (0–100) of requests answered 500 on purpose (`--fail-percent`, `FAIL_PERCENT`); default 0. */
  failPercent?: number;
}

export class OptionsError extends Error {
  readonly code = "BOOKINFO_OPTIONS";
}

export const USAGE = `usage: node dist/service.js --service NAME --version vN --port N [--bind ADDR]
  --service   productpage | details | reviews | ratings   (env SERVICE)
  --version   v1, v2, v3 as the service has them          (env VERSION)
  --port      port to listen on                           (env PORT, default 9080)
  --bind      address to listen on                        (env BIND, default 127.0.0.1)
  --fail-percent  answer 500 to this share (0-100) of requests, /health excepted (env FAIL_PERCENT, default 0)
  calls to other services go through HTTP_PROXY when set (the sidecar's outbound listener),
  else straight to http://<service>:9080; DOWNSTREAM_TIMEOUT_MS (default 3000) bounds each call.`;

const FLAGS = new Set(["service", "version", "port", "bind", "fail-percent"]);

function parseFlags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") {
      out.help = "1";
      continue;
    }
    const m = /^--([a-z]+(?:-[a-z]+)*)(?:=(.*))?$/.exec(a);
    if (!m || !FLAGS.has(m[1]!)) throw new OptionsError(`unknown argument "${a}"\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new OptionsError(`--${m[1]} needs a value\n${USAGE}`);
    out[m[1]!] = value;
  }
  return out;
}

function parsePort(s: string, what: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535)
    throw new OptionsError(`${what}: "${s}" is not a port number`);
  return Number(s);
}

/** Returns the options, or `"help"` when `--help` was given. */
export function parseServiceOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ServiceOptions | "help" {
  const f = parseFlags(argv);
  if (f.help) return "help";
  const service = f.service ?? env.SERVICE;
  if (!service) throw new OptionsError(`--service (or SERVICE) is required\n${USAGE}`);
  if (!(SERVICES as readonly string[]).includes(service)) {
    throw new OptionsError(`unknown service "${service}" (known: ${SERVICES.join(", ")})`);
  }
  const version = f.version ?? env.VERSION ?? "v1";
  const port = parsePort(f.port ?? env.PORT ?? "9080", "--port");
  const bind = f.bind ?? env.BIND ?? "127.0.0.1";
  const proxyText = env.HTTP_PROXY ?? env.http_proxy;
  let proxy: URL | undefined;
  if (proxyText) {
    try {
      proxy = new URL(proxyText);
    } catch {
      throw new OptionsError(`HTTP_PROXY "${proxyText}" is not a URL such as http://127.0.0.1:15001`);
    }
    if (proxy.protocol !== "http:")
      throw new OptionsError(`HTTP_PROXY "${proxyText}" must be an http:// URL`);
  }
  const timeoutText = env.DOWNSTREAM_TIMEOUT_MS ?? "3000";
  const timeoutMs = Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    throw new OptionsError(`DOWNSTREAM_TIMEOUT_MS "${timeoutText}" is not a positive integer`);
  const failText = f["fail-percent"] ?? env.FAIL_PERCENT ?? "0";
  const failPercent = Number(failText);
  if (!/^\d+(\.\d+)?$/.test(failText) || failPercent > 100)
    throw new OptionsError(`--fail-percent "${failText}" is not a share between 0 and 100`);
  return { service: service as ServiceName, version, port, bind, proxy, timeoutMs, failPercent };
}
