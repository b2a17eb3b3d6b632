/**
 * The health model of one process, wired: a HealthState (what the data path reads and reports
 * to) and the ActiveProber feeding it. `update()` takes every endpoint of a new config snapshot
 * (`snapshot.registry.allEndpoints()`): probes follow the config, and state of endpoints that
 * left the config is dropped while unchanged keys keep theirs.
 */
import type { Endpoint } from "@lanecar/core";
import { ActiveProber, type ActiveProberOptions } from "./active-prober.js";
import { HealthState, type HealthStateOptions } from "./health-state.js";

export interface HealthMonitorOptions extends HealthStateOptions {
  prober?: ActiveProberOptions;
}

export class HealthMonitor {
  readonly state: HealthState;
  readonly prober: ActiveProber;

  constructor(opts: HealthMonitorOptions = {}) {
    this.state = new HealthState(opts);
    this.prober = new ActiveProber(this.state, opts.prober);
  }

  /** Applies the endpoints of a config snapshot. */
  update(endpoints: readonly Endpoint[]): void {
    this.prober.update(endpoints);
    this.state.retain(new Set(endpoints.map((e) => e.key)));
  }

  /** Starts probing; resolves when endpoints without initial delay have a first probe result. */
  start(): Promise<void> {
    return this.prober.start();
  }

  stop(): void {
    this.prober.stop();
  }
}
