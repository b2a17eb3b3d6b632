/**
 * One kept-alive connection pool (h1/client.ts) per upstream endpoint and TLS plan (tls-plan.ts:
 * plaintext, ISTIO_MUTUAL with the peer's expected identity, or an origination's settings), shared
 * by every request and every config snapshot that names that endpoint so. `connectionPool`
 * settings of the DestinationRule size it; `http1MaxPendingRequests` turns queueing past the
 * limit into a fast 503 `UO` (overflow).
 */
import type { LookupFunction } from "node:net";
import type { Cluster, ConnectionPoolSettings, Endpoint } from "@lanecar/core";
import { createPool, type PoolLike } from "../fallback/data-path.js";
import type { CredentialStore } from "../identity/credentials.js";
import type { MeshTls } from "../identity/mesh-tls.js";
import { PLAINTEXT, type TlsPlan, TlsPlans } from "./tls-plan.js";

export interface PoolDefaults {
  /** Connections per endpoint when the DestinationRule sets none. */
  connections: number;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Resolves endpoint names for new connections (ServiceEntry DNS); default `dns.lookup`. */
  lookup?: LookupFunction;
  /** The workload identity for ISTIO_MUTUAL pools (`--identity-dir`). */
  mesh?: MeshTls;
  /** Credentials for SIMPLE/MUTUAL `credentialName` (`--credentials-dir`). */
  credentials?: CredentialStore;
}

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
  plan: TlsPlan;
  /** The settings object it was made for (the per-endpoint fast path compares by identity). */
  cp: ConnectionPoolSettings | undefined;
  /** false once the pool was replaced or closed: the fast path then looks it up again. */
  live: boolean;
}

export class UpstreamPools {
  private readonly pools = new Map<string, Entry>();
  /** Hot path: the entry an endpoint object (of one cluster) last used, no key string built. */
  private readonly byEndpoint = new WeakMap<Endpoint, Entry>();
  /** How each (cluster, endpoint) is secured, decided once per endpoint object. */
  readonly plans: TlsPlans;
  /** Connection attempts that failed, TLS handshakes apart (Envoy's upstream_cx_connect_fail). */
  readonly connectFailures = { connect: 0, tls: 0 };

  constructor(private readonly defaults: PoolDefaults = POOL_DEFAULTS) {
    this.plans = new TlsPlans(defaults.mesh, defaults.credentials);
  }

  /** The pool for `ep` as an endpoint of `cluster`: its connection pool settings and TLS plan. */
  forCluster(ep: Endpoint, cluster: Cluster | undefined): Entry {
    const cp = cluster?.policy.connectionPool;
    const hit = this.byEndpoint.get(ep);
    if (hit?.live && hit.cp === cp) return hit;
    const e = this.get(ep, cp, this.plans.of(ep, cluster));
    this.byEndpoint.set(ep, e);
    return e;
  }

  /**
   * The pool for an endpoint with the given settings (a changed setting replaces the pool);
   * `tls`: a plan, or `true` for ISTIO_MUTUAL with any identity of the trust domain (fails closed
   * without an identity), `false` for plaintext.
   */
  get(ep: Endpoint, cp: ConnectionPoolSettings | undefined, tls: TlsPlan | boolean = false): Entry {
    const signature = cp
      ? `${cp.maxConnections}|${cp.connectTimeoutMs}|${cp.idleTimeoutMs}|${cp.maxRequestsPerConnection}`
      : "";
    const plan = tls === true ? this.plans.anyMeshPeer(ep) : tls === false ? PLAINTEXT : tls;
    const key = ep.key + plan.key;
    let e = this.pools.get(key);
    if (e && e.signature === signature) return e;
    if (e) this.drop(e);
    const pool = createPool(ep.address, ep.port, {
      connections: cp?.maxConnections ?? this.defaults.connections,
      connectTimeoutMs: cp?.connectTimeoutMs ?? this.defaults.connectTimeoutMs,
      idleTimeoutMs: Math.min(cp?.idleTimeoutMs ?? 4_000, this.defaults.keepAliveTimeoutMs),
      maxRequestsPerConnection: cp?.maxRequestsPerConnection ?? 0,
      maxHeaderSize: MAX_RESPONSE_HEADER_SIZE,
      lookup: this.defaults.lookup,
      tls: plan.tls,
    });
    e = {
      pool,
      signature,
      maxPending: cp?.http1MaxPendingRequests ?? Number.POSITIVE_INFINITY,
      plan,
      cp,
      live: true,
    };
    this.pools.set(key, e);
    return e;
  }

  private drop(e: Entry): void {
    e.live = false;
    void e.pool.close().catch(() => {});
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
        this.drop(e);
      }
    }
  }

  /** Closes pools of endpoints no longer in config (after a reload). */
  retain(keys: ReadonlySet<string>): void {
    for (const [k, e] of this.pools) {
      const hash = k.indexOf("#");
      if (!keys.has(hash < 0 ? k : k.slice(0, hash))) {
        this.pools.delete(k);
        this.drop(e);
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    for (const e of all) e.live = false;
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
