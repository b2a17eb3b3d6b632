/**
 * Endpoint health: the availability view core's balancers read (HealthState), active probes from
 * WorkloadGroups (ActiveProber), passive outlier detection from DestinationRules (OutlierDetector),
 * and the three wired together (HealthMonitor).
 */
export { ActiveProber, type ActiveProberOptions, type ProbeEvent, type ProbeFn } from "./active-prober.js";
export { HealthMonitor, type HealthMonitorOptions } from "./health-monitor.js";
export {
  type DownReason,
  type EndpointHealthView,
  HEALTH_CHANNEL,
  HEALTH_DEFAULTS,
  type HealthEvent,
  type HealthListener,
  HealthState,
  type HealthStateOptions,
  type ProbeSink,
} from "./health-state.js";
export {
  type EjectionTarget,
  MAX_EJECTION_TIME_MS,
  OutlierDetector,
  type OutlierDetectorOptions,
  outcomeStatus,
  type UpstreamOutcome,
} from "./outlier-detector.js";
export { PROBE_USER_AGENT, type ProbeOutcome, sendProbe } from "./probe-request.js";
