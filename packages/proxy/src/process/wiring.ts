/**
 * Builds the shared parts of one process — health model, correlation store, metrics — and keeps
 * them in step with config reloads. The listeners see them only through `ProxyRuntime`.
 */
import type { ConfigSnapshot } from "@lanecar/core";
import { CorrelationStore } from "../correlation/index.js";
import { HealthMonitor } from "../health/index.js";
import { MeshProbes } from "../health/mesh-probes.js";
import type { CorrelationStoreLike, MetricsSink } from "../runtime.js";
import { IstioMetrics } from "../telemetry/index.js";
import type { TlsPlans } from "../upstream/tls-plan.js";
import type { UpstreamHealth } from "../upstream/upstream-health.js";
import { fullGc } from "./idle-gc.js";
import type { ProcessOptions } from "./proxy-process.js";

export interface Wiring {
  health: UpstreamHealth;
  correlation: CorrelationStoreLike;
  metrics: MetricsSink;
  onConfig(snap: ConfigSnapshot): void;
  configReload(result: "success" | "error"): void;
  renderMetrics(): string;
  endpointHealth(key: string): unknown;
  /** Resolves once endpoints with probes have a first result. */
  start(): Promise<void>;
  stop(): void;
}

export function createWiring(
  initial: ConfigSnapshot,
  opts: Pick<ProcessOptions, "correlation">,
  connectFailures: { connect: number; tls: number } = { connect: 0, tls: 0 },
  plans?: TlsPlans,
): Wiring {
  // Probes to ISTIO_MUTUAL endpoints speak mTLS (a STRICT callee refuses plaintext ones).
  const probes = new MeshProbes(plans);
  probes.update(initial);
  const monitor = new HealthMonitor({ prober: { send: probes.send } });
  const store = new CorrelationStore({
    maxEntries: opts.correlation?.maxEntries,
    ttlMs: opts.correlation?.ttlMs,
    maxBytes: opts.correlation?.maxBytes,
    // After load, once the store has emptied, give the memory back (see idle-gc.ts).
    onIdleRelease: fullGc(),
  });
  const metrics = new IstioMetrics();
  // Live entries: expired ones are dropped first (the background purge may not have run yet).
  metrics.correlationEntries.collect = () => store.size;
  monitor.update(initial.registry.allEndpoints());
  return {
    health: monitor.state,
    correlation: store,
    metrics,
    onConfig: (snap) => {
      probes.update(snap);
      monitor.update(snap.registry.allEndpoints());
    },
    configReload: (result) => metrics.configReloads.labels(result).inc(),
    renderMetrics: () => {
      metrics.correlationLookups.labels("hit").value = store.hits;
      metrics.correlationLookups.labels("miss").value = store.misses;
      metrics.ejections.labels().value = monitor.state.ejections;
      metrics.upstreamConnectFailures.labels("connect").value = connectFailures.connect;
      metrics.upstreamConnectFailures.labels("tls").value = connectFailures.tls;
      return metrics.render();
    },
    endpointHealth: (key) => monitor.state.describe(key),
    start: () => monitor.start(),
    stop: () => {
      monitor.stop();
      store.close();
    },
  };
}
