/**
 * Normalized resource specs: what validation produces from raw YAML. Only fields Lanecar acts on
 * are kept; durations are milliseconds; hosts are kept as written (FQDN expansion happens at
 * compile time, see hosts.ts).
 */
import type { AuthorizationPolicySpec } from "../authz/authorization-policy.js";
import type { PeerAuthenticationSpec } from "../authz/peer-authentication.js";

export type StringMatch =
  | { kind: "exact"; value: string }
  | { kind: "prefix"; value: string }
  | { kind: "regex"; value: string }
  /** `{}`: the header / query parameter is present, whatever its value. */
  | { kind: "present" };

export interface MatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  /** Lower-cased header name → match. */
  headers: [string, StringMatch][];
  withoutHeaders: [string, StringMatch][];
  queryParams: [string, StringMatch][];
  ignoreUriCase: boolean;
  port?: number;
  sourceLabels?: Record<string, string>;
  sourceNamespace?: string;
  gateways?: string[];
}

export interface HeaderOps {
  set: [string, string][];
  add: [string, string][];
  remove: string[];
}

export interface Headers {
  request?: HeaderOps;
  response?: HeaderOps;
}

export interface PortSelector {
  number: number;
}

export interface FallbackTarget {
  host: string;
  subset?: string;
  port?: PortSelector;
  fallback?: Fallback;
}

export interface Fallback {
  /** Which failures trigger it. */
  noinstances: boolean;
  noavailabled: boolean;
  target: FallbackTarget;
}

export interface Destination {
  host: string;
  /** A subset name, or `$label` template. */
  subset?: string;
  port?: PortSelector;
}

export interface RouteDestination {
  destination: Destination;
  weight: number;
  headers?: Headers;
  fallback?: Fallback;
}

export interface HTTPRetry {
  attempts: number;
  perTryTimeoutMs?: number;
  retryOn: string[];
}

export interface HTTPFaultInjection {
  delay?: { fixedDelayMs: number; percentage: number };
  abort?: { httpStatus: number; percentage: number };
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: { match: string; rewrite: string };
}

export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: "FROM_PROTOCOL_DEFAULT" | "FROM_REQUEST_PORT";
  scheme?: string;
  redirectCode: number;
}

export interface HTTPDirectResponse {
  status: number;
  body?: string;
}

export interface Mirror {
  destination: Destination;
  /** 0..100 */
  percentage: number;
}

export interface HTTPRoute {
  name?: string;
  match: MatchRequest[];
  route: RouteDestination[];
  redirect?: HTTPRedirect;
  directResponse?: HTTPDirectResponse;
  rewrite?: HTTPRewrite;
  timeoutMs?: number;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  mirrors: Mirror[];
  headers?: Headers;
  /** A `delegate` rule: accepted as Istio does, never matched by Lanecar. */
  delegated?: true;
}

export interface VirtualServiceSpec {
  hosts: string[];
  gateways: string[];
  http: HTTPRoute[];
}

export type SimpleLB = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "PASSTHROUGH";

export interface ConsistentHashLB {
  httpHeaderName?: string;
  httpCookie?: { name: string; path?: string; ttlMs?: number };
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
}

export interface LoadBalancerSettings {
  simple?: SimpleLB;
  consistentHash?: ConsistentHashLB;
}

export interface ConnectionPoolSettings {
  maxConnections?: number;
  connectTimeoutMs?: number;
  http1MaxPendingRequests?: number;
  http2MaxRequests?: number;
  maxRequestsPerConnection?: number;
  maxRetries?: number;
  idleTimeoutMs?: number;
}

export interface OutlierDetection {
  consecutive5xxErrors: number;
  consecutiveGatewayErrors: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

/** DestinationRule `tls.mode`: what a connection to the destination must be. */
export type ClientTlsMode = "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";

/**
 * Istio ClientTLSSettings: `ISTIO_MUTUAL` is mutual TLS with the workload identity
 * (`--identity-dir`); `SIMPLE` / `MUTUAL` originate TLS with the files or the credential named
 * here; `DISABLE` is plaintext. File fields are paths as the sidecar sees them.
 */
export interface ClientTlsSettings {
  mode: ClientTlsMode;
  caCertificates?: string;
  clientCertificate?: string;
  privateKey?: string;
  /** A credential of `--credentials-dir` (SIMPLE: the CA; MUTUAL: certificate, key and CA). */
  credentialName?: string;
  /** Server name sent in the handshake; default: the destination host. */
  sni?: string;
  /** The server certificate must name one of these (instead of the SNI host check). */
  subjectAltNames?: string[];
  insecureSkipVerify?: boolean;
}

/** The four settings a port-level policy and a traffic policy share. */
export interface TrafficPolicyFields {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTlsSettings;
}

/** `portLevelSettings[]`: replaces all four fields for one service port (defaults where unset). */
export interface PortTrafficPolicy extends TrafficPolicyFields {
  port: number;
}

export interface TrafficPolicy extends TrafficPolicyFields {
  portLevelSettings?: PortTrafficPolicy[];
}

export interface Subset {
  name: string;
  labels: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets: Subset[];
  /** The rule applies only to sidecars whose pod labels match (Istio `workloadSelector.matchLabels`). */
  workloadSelector?: Record<string, string>;
}

export interface ServicePort {
  number: number;
  name: string;
  protocol: string;
  targetPort?: number;
}

export interface WorkloadEntrySpec {
  address: string;
  ports: Record<string, number>;
  labels: Record<string, string>;
  weight: number;
  /** The workload's service account: its mutual-TLS peer must present this identity. */
  serviceAccount?: string;
}

export interface ServiceEntrySpec {
  hosts: string[];
  ports: ServicePort[];
  location: "MESH_EXTERNAL" | "MESH_INTERNAL";
  resolution: "NONE" | "STATIC" | "DNS" | "DNS_ROUND_ROBIN";
  endpoints: WorkloadEntrySpec[];
  workloadSelector?: Record<string, string>;
  /** Identities the service's servers may present over ISTIO_MUTUAL (endpoints without a service account). */
  subjectAltNames?: string[];
}

export interface Probe {
  path: string;
  port: number;
  host?: string;
  scheme: "HTTP" | "HTTPS";
  headers: [string, string][];
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface WorkloadGroupSpec {
  labels: Record<string, string>;
  probe?: Probe;
}

/** Istio TLS protocol versions (`ServerTLSSettings.TLSProtocol`); `TLS_AUTO` is the default. */
export type TlsProtocolVersion = "TLS_AUTO" | "TLSV1_0" | "TLSV1_1" | "TLSV1_2" | "TLSV1_3";

/**
 * A Gateway server's `tls` (Istio `ServerTLSSettings`) as Lanecar serves it: `SIMPLE` or `MUTUAL`
 * on an HTTPS server, or only `httpsRedirect` on an HTTP server. Certificates come from
 * `credentialName` (a folder of `--credentials-dir`) or from file paths (Istio's file-mount form).
 */
export interface ServerTls {
  /** `httpsRedirect: true` on an HTTP server: every request is answered 301 to https. */
  httpsRedirect: boolean;
  /** Absent on an HTTP server that only redirects. */
  mode?: "SIMPLE" | "MUTUAL";
  credentialName?: string;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  /** MUTUAL: a client certificate must carry one of these SANs (any type, exact). */
  subjectAltNames: string[];
  minProtocolVersion?: TlsProtocolVersion;
  maxProtocolVersion?: TlsProtocolVersion;
  /** TLS 1.2 cipher suites (OpenSSL/BoringSSL names) the server offers; empty = the defaults. */
  cipherSuites: string[];
}

export interface GatewayServer {
  port: { number: number; name?: string; protocol: string };
  hosts: string[];
  name?: string;
  tls?: ServerTls;
}

export interface GatewaySpec {
  selector: Record<string, string>;
  servers: GatewayServer[];
}

/** A parsed `valueFrom` entry (see label/value-from.ts). */
export type ValueSource =
  | { fn: "inboundHeader"; header: string }
  | { fn: "outboundHeader"; header: string }
  | { fn: "externalInboundHeader"; ctx: string; header: string }
  | { fn: "context"; ctx: string }
  | { fn: "podLabel"; label: string }
  | { fn: "baggage"; key: string };

export interface TrafficLabelRule {
  labels: { name: string; valueFrom: ValueSource[]; raw: string[] }[];
  attachTo: string[];
  protocols: string;
}

export interface TrafficLabelSpec {
  workloadSelector?: Record<string, string>;
  rules: TrafficLabelRule[];
}

export interface KindSpecs {
  AuthorizationPolicy: AuthorizationPolicySpec;
  PeerAuthentication: PeerAuthenticationSpec;
  VirtualService: VirtualServiceSpec;
  DestinationRule: DestinationRuleSpec;
  ServiceEntry: ServiceEntrySpec;
  WorkloadEntry: WorkloadEntrySpec;
  WorkloadGroup: WorkloadGroupSpec;
  Gateway: GatewaySpec;
  TrafficLabel: TrafficLabelSpec;
}

export type KindName = keyof KindSpecs;
