/**
 * One kept-alive connection pool (h1/client.ts) per upstream endpoint, shared by every request and every config
 * snapshot that names that endpoint. `connectionPool` settings of the DestinationRule size it;
 * `http1MaxPendingRequests` turns queueing past the limit into a fast 503 `UO` (overflow).
 */
import type { ConnectionPoolSettings, Endpoint } from "@lanecar/core";
import { createPool, type PoolLike } from "../fallback/data-path.js";

export interface PoolDefaults {
  /** Connections per endpoint when the DestinationRule sets none. */
  connections: number;
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
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
}

export class UpstreamPools {
  private readonly pools = new Map<string, Entry>();

  constructor(private readonly defaults: PoolDefaults = POOL_DEFAULTS) {}

  /** The pool for an endpoint with the given settings (a changed setting replaces the pool). */
  get(ep: Endpoint, cp: ConnectionPoolSettings | undefined): Entry {
    const signature = cp
      ? `${cp.maxConnections}|${cp.connectTimeoutMs}|${cp.idleTimeoutMs}|${cp.maxRequestsPerConnection}`
      : "";
    let e = this.pools.get(ep.key);
    if (e && e.signature === signature) return e;
    if (e) void e.pool.close().catch(() => {});
    const pool = createPool(ep.address, ep.port, {
      connections: cp?.maxConnections ?? this.defaults.connections,
      connectTimeoutMs: cp?.connectTimeoutMs ?? this.defaults.connectTimeoutMs,
      idleTimeoutMs: Math.min(cp?.idleTimeoutMs ?? 4_000, this.defaults.keepAliveTimeoutMs),
      maxRequestsPerConnection: cp?.maxRequestsPerConnection ?? 0,
      maxHeaderSize: MAX_RESPONSE_HEADER_SIZE,
    });
    e = { pool, signature, maxPending: cp?.http1MaxPendingRequests ?? Number.POSITIVE_INFINITY };
    this.pools.set(ep.key, e);
    return e;
  }

  /** Would one more request overflow the endpoint's pending queue? */
  overflowing(e: Entry): boolean {
    return e.maxPending !== Number.POSITIVE_INFINITY && e.pool.queued >= e.maxPending;
  }

  /** Closes pools of endpoints no longer in config (after a reload). */
  retain(keys: ReadonlySet<string>): void {
    for (const [k, e] of this.pools) {
      if (!keys.has(k)) {
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
