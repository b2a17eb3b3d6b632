/**
 * @lanecar/core — lane semantics with no sockets and no timers: config text in, decisions out.
 * Read in data-path order: resources → label → route → endpoint → explain.
 */
export {
  type AuthorizationPolicySpec,
  Authorizer,
  type AuthzDecision,
  type AuthzRequest,
  checkAuthorizationPolicy,
  checkPeerAuthentication,
  type MtlsMode,
  mtlsModeFor,
  type PeerAuthenticationSpec,
  principalNamespace,
} from "./authz/index.js";
export {
  ConfigError,
  type Diagnostic,
  formatDiagnostic,
  hasErrors,
  type Severity,
  sortDiagnostics,
} from "./diagnostics.js";
export {
  type Balancer,
  ConsistentHashBalancer,
  LeastRequestBalancer,
  makeBalancer,
  RandomBalancer,
  RoundRobinBalancer,
} from "./endpoint/balancer.js";
export { Cluster, mergePolicy, type Service } from "./endpoint/cluster.js";
export {
  ALL_AVAILABLE,
  type Availability,
  availabilityExcept,
  type Endpoint,
  endpointKey,
} from "./endpoint/endpoint.js";
export { hashKeyFor } from "./endpoint/hash-key.js";
export {
  type DiscoveredInstance,
  type DiscoveredService,
  type DnsResolution,
  ServiceRegistry,
} from "./endpoint/registry.js";
export {
  type ExplainedEndpoint,
  type ExplainInput,
  ExplainInputError,
  type Explanation,
  explain,
  parseRequestLine,
} from "./explain.js";
export type { ExplainedActions, ExplainedFault } from "./explain-actions.js";
export { authzNote, describeAuthz, type ExplainedAuthz } from "./explain-authz.js";
export {
  CLUSTER_DOMAIN,
  fqdn,
  HostIndex,
  hostMatches,
  requestHostCandidates,
  splitAuthority,
} from "./hosts.js";
export {
  correlationContext,
  correlationKey,
  DEFAULT_CORRELATION_HEADERS,
  isTraceIdHeader,
  requestCorrelationKey,
  TRACE_ID_CONTEXT,
  TRACE_ID_HEADERS,
} from "./label/correlation-key.js";
export { isValidLabelValue } from "./label/label-value.js";
export {
  type CorrelationLookup,
  type CorrelationRecord,
  type Direction,
  type HeaderGetter,
  type LabelDefinition,
  LabelResolver,
  labelSelectorMatches,
  type ResolvedLabels,
  resolverFor,
} from "./label/resolver.js";
export { LOCAL_LABEL, parseValueFrom, VALUE_FROM_FUNCTIONS } from "./label/value-from.js";
export { OUTLIER_DEFAULTS } from "./resources/destination-rule.js";
export { parseDuration } from "./resources/duration.js";
export { listConfigFiles, readConfigTexts } from "./resources/load-files.js";
export { type ConfigText, parseConfigText, type RawResource, type SourceDoc } from "./resources/source.js";
export type * from "./resources/types.js";
export {
  type LoadOptions,
  type LoadResult,
  loadResources,
  SUPPORTED_KINDS,
  type ValidResource,
} from "./resources/validate.js";
export { DEFAULT_RETRY, RETRY_ON } from "./resources/virtual-service.js";
export {
  decideFault,
  type FaultDecision,
  headerOps,
  redirectLocation,
  rewritePath,
  sampleMirror,
} from "./route/actions.js";
export { headerGetter, type RouteContext, type RouteRequest } from "./route/request.js";
export {
  type CompiledDestination,
  type CompiledFallback,
  type CompiledRoute,
  qualifyGateway,
  type RouteTable,
  type Target,
} from "./route/route-table.js";
export {
  type DecisionKind,
  type FallbackInfo,
  type FallbackReason,
  type HostSubset,
  type Labels,
  pickWeighted,
  type RouteDecision,
  Router,
} from "./route/router.js";
export {
  type BuildResult,
  buildSnapshot,
  ConfigSnapshot,
  loadSnapshot,
  type SnapshotOptions,
} from "./snapshot.js";
