/**
 * @lanecar/proxy — the data plane around @lanecar/core, in data-path order:
 * listeners (inbound, outbound, gateway) → labels → route → endpoint → upstream.
 */
export { type AdminSource, dumpClusters, startAdmin } from "./admin/admin-server.js";
export { ConfigSource, type ConfigSourceOptions, type ReloadError } from "./config-source/config-source.js";
export {
  type DataPath,
  DataPathError,
  type DataPathKind,
  dataPath,
  describeDataPath,
} from "./fallback/data-path.js";
export { LaneGuard } from "./gateway/lane-guard.js";
export {
  type GrantedLane,
  LANE_TOKEN_HEADER,
  LaneTokenKeyError,
  LaneTokenVerifier,
  loadLaneTokenKey,
  MIN_KEY_BYTES,
  mintLaneToken,
} from "./gateway/lane-token.js";
export type { BodySink, DownstreamStream, ListenerServer } from "./http/downstream.js";
export { LOCAL_REPLIES, type ResponseFlag, sendLocalReply } from "./http/local-reply.js";
export {
  copyRequestHeaders,
  copyResponseHeaders,
  HOP_BY_HOP,
  rawHeader,
  rawHeaderGetter,
} from "./http/raw-headers.js";
export {
  createProxyServer,
  drainServer,
  listen,
  parseListen,
  SERVER_LIMITS,
  type ServerLimits,
} from "./http/server.js";
export {
  CaError,
  DEFAULT_TRUST_DOMAIN,
  formatSpiffeId,
  IdentityError,
  type IdentityStatus,
  IdentityWatcher,
  initCa,
  issueWorkload,
  loadWorkloadCert,
  parseSpiffeId,
  type SpiffeIdentity,
  type WorkloadCert,
} from "./identity/index.js";
export { InboundListener } from "./inbound/inbound-listener.js";
// Discovery is loaded on demand (`startDiscovery`): only its types and errors are exported here.
export { type AppProbes, parseAppProbes } from "./kubernetes/app-probes.js";
export type { ClusterSpec } from "./kubernetes/cluster-client.js";
export { KubeApiError, KubernetesSyncError } from "./kubernetes/errors.js";
export type { KubernetesSource, KubernetesSourceOptions } from "./kubernetes/kubernetes-source.js";
export { RoutedListener } from "./outbound/routed-listener.js";
export type { DiscoveryOptions } from "./process/discovery.js";
export {
  GATEWAY_DEFAULTS,
  GatewayNotFoundError,
  type GatewayOptions,
  gatewayContext,
  startGateway,
} from "./process/gateway.js";
export { type Logger, type ProcessOptions, ProxyProcess, stderrLogger } from "./process/proxy-process.js";
export { SIDECAR_DEFAULTS, type SidecarOptions, startSidecar } from "./process/sidecar.js";
export type { SnapshotSource } from "./process/snapshot-source.js";
export type { MetricsSink, ProxyRuntime, WorkloadIdentity } from "./runtime.js";
export { Exchange } from "./upstream/exchange.js";
export { UpstreamPools } from "./upstream/pools.js";
export type { UpstreamHealth, UpstreamResult } from "./upstream/upstream-health.js";
