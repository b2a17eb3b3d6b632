/**
 * One kept-alive connection pool (h1/client.ts) per upstream endpoint, shared by every request and every config
 * snapshot that names that endpoint. `connectionPool` settings of the DestinationRule size it;
 * `http1MaxPendingRequests` turns queueing past the limit into a fast 503 `UO` (overflow).
 */
import type { LookupFunction } from "node:net";
import tls from "node:tls";
import type { ConnectionPoolSettings, Endpoint, TrafficPolicy } from "@lanecar/core";
import { createPool, type PoolLike } from "../fallback/data-path.js";
import type { UpstreamTls } from "../h1/client.js";
import type { MeshTls } from "../identity/mesh-tls.js";

export interface PoolDefaults {
  /** Connections per endpoint when the DestinationRule sets none. */
  connections: number;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Resolves endpoint names for new connections (ServiceEntry DNS); default `dns.lookup`. */
  lookup?: LookupFunction;
  /** The workload identity for ISTIO_MUTUAL pools (`--identity-dir`). */
  mesh?: MeshTls;
}

/** Pools that speak mutual TLS are keyed apart, so a TLS and a plaintext pool never mix. */
const MTLS_SUFFIX = "#mtls";

export const POOL_DEFAULTS: PoolDefaults = {
  connections: 128,
  connectTimeoutMs: 10_000,
  keepAliveTimeoutMs: 60_000,
};

/** Response header section limit for upstream responses (as Envoy's default, 60 KiB). */
const MAX_RESPONSE_HEADER_SIZE = 60 * 1024;

interface Entry {
  pool: PoolLike;
  signature: string;
  maxPending: number;
}

/**
 * Does the cluster's policy ask for ISTIO_MUTUAL? Read structurally: `trafficPolicy.tls` is not
 * yet part of core's normalized TrafficPolicy, so this is false until it is (see decisions.md).
 */
export function mtlsFor(policy: TrafficPolicy | undefined): boolean {
  return policy?.tls?.mode === "ISTIO_MUTUAL";
}

/** Without an identity an ISTIO_MUTUAL pool fails closed: no certificate, no trusted root. */
let noIdentity: tls.SecureContext | undefined;
function noIdentityPeer(): Error {
  return new Error("ISTIO_MUTUAL needs a workload identity (--identity-dir)");
}

export class UpstreamPools {
  private readonly pools = new Map<string, Entry>();
  /** Connection attempts that failed, TLS handshakes apart (Envoy's upstream_cx_connect_fail). */
  readonly connectFailures = { connect: 0, tls: 0 };

  constructor(private readonly defaults: PoolDefaults = POOL_DEFAULTS) {}

  /**
   * The pool for an endpoint with the given settings (a changed setting replaces the pool);
   * `mtls`: ISTIO_MUTUAL with the workload identity (fails closed without one).
   */
  get(ep: Endpoint, cp: ConnectionPoolSettings | undefined, mtls = false): Entry {
    const signature = cp
      ? `${cp.maxConnections}|${cp.connectTimeoutMs}|${cp.idleTimeoutMs}|${cp.maxRequestsPerConnection}`
      : "";
    const key = mtls ? ep.key + MTLS_SUFFIX : ep.key;
    let e = this.pools.get(key);
    if (e && e.signature === signature) return e;
    if (e) void e.pool.close().catch(() => {});
    const pool = createPool(ep.address, ep.port, {
      connections: cp?.maxConnections ?? this.defaults.connections,
      connectTimeoutMs: cp?.connectTimeoutMs ?? this.defaults.connectTimeoutMs,
      idleTimeoutMs: Math.min(cp?.idleTimeoutMs ?? 4_000, this.defaults.keepAliveTimeoutMs),
      maxRequestsPerConnection: cp?.maxRequestsPerConnection ?? 0,
      maxHeaderSize: MAX_RESPONSE_HEADER_SIZE,
      lookup: this.defaults.lookup,
      tls: mtls ? this.upstreamTls(key) : undefined,
    });
    e = { pool, signature, maxPending: cp?.http1MaxPendingRequests ?? Number.POSITIVE_INFINITY };
    this.pools.set(key, e);
    return e;
  }

  private upstreamTls(key: string): UpstreamTls {
    const mesh = this.defaults.mesh;
    if (!mesh) {
      noIdentity ??= tls.createSecureContext({ ca: [] });
      const ctx = noIdentity;
      return {
        context: () => ctx,
        checkPeer: noIdentityPeer,
        session: () => undefined,
        saveSession: () => {},
      };
    }
    return {
      context: () => mesh.context,
      checkPeer: mesh.checkPeer,
      session: () => mesh.sessions.get(key),
      saveSession: (s) => {
        mesh.sessions.set(key, s);
      },
    };
  }

  /** A connection attempt failed before any byte of a request went out. */
  connectFailed(tls: boolean): void {
    if (tls) this.connectFailures.tls++;
    else this.connectFailures.connect++;
  }

  /** Would one more request overflow the endpoint's pending queue? */
  overflowing(e: Entry): boolean {
    return e.maxPending !== Number.POSITIVE_INFINITY && e.pool.queued >= e.maxPending;
  }

  /** Closes the pools of a DNS name whose answer changed (new connections use the new addresses). */
  retireHost(name: string): void {
    for (const [k, e] of this.pools) {
      if (k.startsWith(`${name}:`)) {
        this.pools.delete(k);
        void e.pool.close().catch(() => {});
      }
    }
  }

  /** Closes pools of endpoints no longer in config (after a reload). */
  retain(keys: ReadonlySet<string>): void {
    for (const [k, e] of this.pools) {
      if (!keys.has(k.endsWith(MTLS_SUFFIX) ? k.slice(0, -MTLS_SUFFIX.length) : k)) {
        this.pools.delete(k);
        void e.pool.close().catch(() => {});
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => e.pool.close()));
  }

  stats(): Record<
    string,
    { connected: number; free: number; pending: number; queued: number; running: number }
  > {
    const out: Record<
      string,
      { connected: number; free: number; pending: number; queued: number; running: number }
    > = {};
    for (const [k, e] of this.pools) {
      const s = e.pool.stats;
      out[k] = {
        connected: s.connected,
        free: s.free,
        pending: s.pending,
        queued: s.queued,
        running: s.running,
      };
    }
    return out;
  }
}
