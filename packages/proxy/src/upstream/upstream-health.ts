/**
 * What the forwarding path tells the health model and asks of it. The listeners see only this
 * interface; `health/` implements it (active probes + outlier detection + refused connections).
 */
import type { Availability, Endpoint, OutlierDetection } from "@lanecar/core";

export type UpstreamResult = number | "connect-failure" | "reset" | "timeout";

export interface UpstreamHealth extends Availability {
  /** A request to `ep` starts / ends (LEAST_REQUEST load, admin stats). */
  begin(ep: Endpoint): void;
  end(ep: Endpoint): void;
  /**
   * The outcome of one attempt: a status code or a local-origin failure. `pool` is the cluster's
   * endpoint list, which `maxEjectionPercent` is a share of.
   */
  report(
    ep: Endpoint,
    outlier: OutlierDetection | undefined,
    result: UpstreamResult,
    pool?: readonly Endpoint[],
  ): void;
}

/** No health tracking (the inbound hop to the local app). */
export const NO_HEALTH: UpstreamHealth = {
  isAvailable: () => true,
  activeRequests: () => 0,
  begin: () => {},
  end: () => {},
  report: () => {},
};
