/**
 * The Bookinfo lanes demo as data: services, versions, lanes, and the port plan of process mode
 * (everything on 127.0.0.1, one sidecar per instance). The checked-in YAML under `config/` says
 * the same thing in Istio/ASM terms; a test keeps the two in agreement, so the runner, the tests
 * and the README can read ports and lanes from here instead of repeating them.
 *
 * Port plan (slot = 10 × service index + version number):
 *   app 9100+slot · sidecar inbound 15100+slot · sidecar outbound 15200+slot · sidecar admin 15300+slot
 *   gateway 127.0.0.1:8080, gateway admin 127.0.0.1:15000
 */
import { fileURLToPath } from "node:url";

export type ServiceName = "productpage" | "details" | "reviews" | "ratings";
export type LaneName = "prod" | "gray" | "dev";

/** Namespace of every resource and workload. */
export const NAMESPACE = "default";
/** The port every service is called on by name (`http://reviews:9080/...`), as in Bookinfo. */
export const SERVICE_PORT = 9080;
/** The TrafficLabel label that names the lane, and the header it travels in between sidecars. */
export const LANE_LABEL = "x-asm-prefer-tag";
/** The pod label that says which lane an instance belongs to (ASM traffic lanes). */
export const LANE_POD_LABEL = "ASM_TRAFFIC_TAG";
/** SPIFFE trust domain of the demo's mesh (Istio's default). */
export const TRUST_DOMAIN = "cluster.local";

/** Every service has an instance in the baseline lane; fallback goes there. */
export const BASELINE_LANE: LaneName = "prod";

export interface Lane {
  name: LaneName;
  /** Background colour of this lane on the product page and in the README. */
  colour: string;
  description: string;
}

export const LANES: readonly Lane[] = [
  { name: "prod", colour: "#2e7d32", description: "baseline: v1 of every service" },
  {
    name: "gray",
    colour: "#546e7a",
    description: "the gray release: productpage v2, reviews v2 (black stars), ratings v2",
  },
  { name: "dev", colour: "#8e24aa", description: "a developer's lane: reviews v3 (red stars) only" },
];

export const SERVICES: readonly ServiceName[] = ["productpage", "details", "reviews", "ratings"];

/** Services a service calls (every version; reviews v1 calls ratings too, and shows no stars). */
export const CALLS: Readonly<Record<ServiceName, readonly ServiceName[]>> = {
  productpage: ["details", "reviews"],
  details: [],
  reviews: ["ratings"],
  ratings: [],
};

export interface Ports {
  /** The application itself (`node dist/service.js --port`). */
  app: number;
  /** Sidecar inbound: what other instances (and probes) connect to; the WorkloadEntry port. */
  inbound: number;
  /** Sidecar outbound: the app's `HTTP_PROXY`. */
  outbound: number;
  /** Sidecar admin API (`/ready`, `/metrics`, `/clusters`). */
  admin: number;
}

export interface Instance {
  /** `reviews-v2`: WorkloadEntry, WorkloadGroup and config file name. */
  name: string;
  service: ServiceName;
  version: string;
  lane: LaneName;
  ports: Ports;
  /** Started in the first step of the tour (the seed's `replicas: 1` Deployments). */
  baseline: boolean;
  /** What a person sees from this version. */
  summary: string;
}

function instance(
  service: ServiceName,
  version: string,
  lane: LaneName,
  slot: number,
  baseline: boolean,
  summary: string,
): Instance {
  return {
    name: `${service}-${version}`,
    service,
    version,
    lane,
    ports: { app: 9100 + slot, inbound: 15100 + slot, outbound: 15200 + slot, admin: 15300 + slot },
    baseline,
    summary,
  };
}

/** All instances, in start order (leaves first, so callers find their callees up). */
export const INSTANCES: readonly Instance[] = [
  instance("ratings", "v1", "prod", 31, true, "5 and 4 stars"),
  instance("ratings", "v2", "gray", 32, false, "1 and 2 stars"),
  instance("reviews", "v1", "prod", 21, true, "no stars"),
  instance("reviews", "v2", "gray", 22, false, "black stars"),
  instance("reviews", "v3", "dev", 23, false, "red stars"),
  instance("details", "v1", "prod", 11, true, "book details"),
  instance("productpage", "v1", "prod", 1, true, "the classic page"),
  instance("productpage", "v2", "gray", 2, false, 'the new page (a "gray lane" banner)'),
];

export const GATEWAY = {
  /** `metadata.name` of the Gateway resource (`--gateway`). */
  name: "bookinfo-gateway",
  /**
   * Whose certificate the gateway presents to the mesh: Istio's ingress gateway's (namespace
   * istio-system, the service account Istio's charts give it), so AuthorizationPolicies written
   * for Istio's ingress gateway match it unchanged.
   */
  identity: { namespace: "istio-system", serviceAccount: "istio-ingressgateway-service-account" },
  listen: { host: "127.0.0.1", port: 8080 },
  admin: { host: "127.0.0.1", port: 15000 },
  /** Matches the Gateway's `selector` (Istio's ingress gateway). No lane label: the edge decides. */
  podLabels: { app: "istio-ingressgateway", istio: "ingressgateway" } as Readonly<Record<string, string>>,
} as const;

/** Folders of the checked-in config, relative to `examples/bookinfo/`. */
export const CONFIG_DIRS = {
  /** Routing and lanes, the same in every mode: TrafficLabel, DestinationRules, VirtualServices, Gateway, ServiceEntries. */
  shared: "config/shared",
  /** Mesh security policy: the namespace's PeerAuthentication (STRICT); left out with `--no-mtls`. */
  security: "config/security",
  /** Where instances are in process mode: one file per instance (WorkloadEntry + WorkloadGroup). */
  process: "config/process",
  /** Where instances are in docker-compose: one file per instance. */
  compose: "config-compose",
} as const;

/** Absolute path of a folder or file under `examples/bookinfo/` (works from `src/` and `dist/`). */
export function exampleFile(relative: string): string {
  return fileURLToPath(new URL(`../${relative}`, import.meta.url));
}

/** The process-mode config file of one instance (`config/process/reviews-v2.yaml`). */
export function instanceConfigFile(i: Instance): string {
  return `${CONFIG_DIRS.process}/${i.name}.yaml`;
}

export function findInstance(service: string, version: string): Instance | undefined {
  return INSTANCES.find((i) => i.service === service && i.version === version);
}

export function versionsOf(service: ServiceName): string[] {
  return INSTANCES.filter((i) => i.service === service).map((i) => i.version);
}

/** The lane of a service version, or undefined for versions the demo does not have. */
export function laneOf(service: string, version: string): LaneName | undefined {
  return findInstance(service, version)?.lane;
}

export function laneColour(lane: string): string | undefined {
  return LANES.find((l) => l.name === lane)?.colour;
}

/** Pod labels of an instance, as a Deployment's template would carry them. */
export function podLabels(i: Instance): Record<string, string> {
  return { app: i.service, version: i.version, [LANE_POD_LABEL]: i.lane };
}

/** The Kubernetes service account of a service's pods, as Istio's bookinfo.yaml names it. */
export function serviceAccountOf(service: ServiceName): string {
  return `bookinfo-${service}`;
}

/** `spiffe://cluster.local/ns/default/sa/bookinfo-reviews`: what an instance's certificate says. */
export function spiffeIdOf(i: Instance): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/sa/${serviceAccountOf(i.service)}`;
}

/** `k=v,k=v` for `--pod-labels`. */
export function podLabelsFlag(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** Where one sidecar listens and where its app is (`--inbound`, `--app`, `--outbound`, `--admin`). */
export interface SidecarAddresses {
  inbound: string;
  app: string;
  outbound: string;
  admin: string;
}

/** Process mode: everything on 127.0.0.1, at the given ports (the plan's by default). */
export function processAddresses(ports: Ports): SidecarAddresses {
  return {
    inbound: `127.0.0.1:${ports.inbound}`,
    app: `http://127.0.0.1:${ports.app}`,
    outbound: `127.0.0.1:${ports.outbound}`,
    admin: `127.0.0.1:${ports.admin}`,
  };
}

/**
 * `--identity-dir DIR` (the workload certificate), or nothing without an identity. The inbound
 * mode comes from the PeerAuthentication in config/security (STRICT), not from a flag.
 */
export function identityArgs(identityDir: string | undefined): string[] {
  return identityDir ? ["--identity-dir", identityDir] : [];
}

/** Arguments of `lanecar` for the sidecar of an instance (process mode unless told otherwise). */
export function sidecarArgs(
  i: Instance,
  config: readonly string[],
  at: SidecarAddresses = processAddresses(i.ports),
  identityDir?: string,
): string[] {
  return [
    "sidecar",
    ...config.flatMap((c) => ["--config", c]),
    "--service",
    i.service,
    "--namespace",
    NAMESPACE,
    "--pod-labels",
    podLabelsFlag(podLabels(i)),
    "--inbound",
    at.inbound,
    "--app",
    at.app,
    "--outbound",
    at.outbound,
    "--admin",
    at.admin,
    ...identityArgs(identityDir),
  ];
}

/** Arguments of `lanecar` for the gateway (`--listen`, `--admin`: the plan's unless told otherwise). */
export function gatewayArgs(
  config: readonly string[],
  listen = `${GATEWAY.listen.host}:${GATEWAY.listen.port}`,
  admin = `${GATEWAY.admin.host}:${GATEWAY.admin.port}`,
  identityDir?: string,
): string[] {
  return [
    "gateway",
    ...config.flatMap((c) => ["--config", c]),
    "--gateway",
    GATEWAY.name,
    "--namespace",
    NAMESPACE,
    "--pod-labels",
    podLabelsFlag(GATEWAY.podLabels),
    "--listen",
    listen,
    "--admin",
    admin,
    ...identityArgs(identityDir),
  ];
}

/** Environment of an instance's app (`node dist/service.js`), calling out through its sidecar. */
export function appEnv(i: Instance, ports: Ports = i.ports): Record<string, string> {
  return {
    SERVICE: i.service,
    VERSION: i.version,
    PORT: String(ports.app),
    BIND: "127.0.0.1",
    HTTP_PROXY: `http://127.0.0.1:${ports.outbound}`,
  };
}
