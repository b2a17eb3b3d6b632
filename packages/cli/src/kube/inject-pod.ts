/**
 * The one pod mutation behind `lanecar inject` and the `lanecar injector` webhook: given a pod
 * (or a workload's pod template) it returns a new pod with the Lanecar sidecar, or says why it
 * left the pod alone. Pure: no I/O, the input is never modified, and injecting an injected pod
 * returns it unchanged.
 *
 * What an injected pod gets (SPEC section 11):
 * - init container `lanecar-init` running `lanecar iptables` as root with NET_ADMIN/NET_RAW,
 *   capturing inbound connections to the app's port and outbound ones but port 443
 *   (capture-annotations.ts: per-pod annotations change both);
 * - `lanecar-proxy`, a native sidecar (init container with `restartPolicy: Always`, Kubernetes
 *   >= 1.29) right after it, or with `classicSidecar` the first regular container; running as
 *   UID/GID 1337 (exempt from capture), ports 15006/15001/15000, readiness (and, native, startup)
 *   probe on `/ready` at the admin port, which listens on the pod IP for kubelet;
 * - the pod's labels through a downward-API volume (`--pod-labels-file`), its namespace through
 *   the downward API (`LANECAR_NAMESPACE`) and its service (`LANECAR_SERVICE`);
 * - its workload identity from cert-manager's csi-driver-spiffe and the label
 *   `security.istio.io/tlsMode` (inject-identity.ts), and with it the app's HTTP probes answered
 *   by the sidecar's admin port (inject-probes.ts).
 */
import { captureArgs } from "./capture-annotations.js";
import { CAPTURE_DEFAULTS } from "./capture-rules.js";
import {
  DEFAULT_TRUST_DOMAIN,
  IDENTITY_VOLUME,
  type IdentityOptions,
  identityVolume,
  sidecarIdentity,
  withTlsModeLabel,
} from "./inject-identity.js";
import { rewriteAppProbes } from "./inject-probes.js";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export const SIDECAR_NAME = "lanecar-proxy";
export const INIT_NAME = "lanecar-init";
export const PODINFO_VOLUME = "lanecar-podinfo";
export const PODINFO_DIR = "/etc/lanecar/podinfo";
export const INJECT_ANNOTATION = "lanecar.io/inject";
export const SERVICE_ANNOTATION = "lanecar.io/service";
export const APP_PORT_ANNOTATION = "lanecar.io/app-port";
/** What `docker build -t lanecar:0.1.0 -f deploy/Dockerfile .` tags; `--image` names a pushed one. */
export const DEFAULT_IMAGE = "lanecar:0.1.0";
const PORTS = {
  inbound: CAPTURE_DEFAULTS.inboundPort,
  outbound: CAPTURE_DEFAULTS.outboundPort,
  admin: CAPTURE_DEFAULTS.adminPort,
};
const PROXY_UID = CAPTURE_DEFAULTS.proxyUid;

export interface InjectOptions extends IdentityOptions {
  image: string;
  /** The sidecar as a regular container (clusters older than 1.29). */
  classicSidecar: boolean;
  /** `kubernetes` (discovery from the API) or a path inside the container for `--config`. */
  configSource: string;
}

export const INJECT_DEFAULTS: InjectOptions = {
  image: DEFAULT_IMAGE,
  classicSidecar: false,
  configSource: "kubernetes",
  identity: "csi-driver-spiffe",
  trustDomain: DEFAULT_TRUST_DOMAIN,
};

/** A pod or pod template: what the mutation reads and writes. */
export interface PodLike {
  metadata?: JsonObject;
  spec?: JsonObject;
}

export type InjectOutcome =
  | { injected: true; pod: PodLike }
  | {
      injected: false;
      reason:
        | "opted-out"
        | "already-injected"
        | "host-network"
        | "no-service"
        | "no-containers"
        | "bad-annotation";
      /** The specific problem, where the reason alone does not say it. */
      detail?: string;
    };

export const SKIP_REASONS: Record<Exclude<InjectOutcome, { injected: true }>["reason"], string> = {
  "opted-out": `annotation ${INJECT_ANNOTATION}: "false"`,
  "already-injected": `it already has ${SIDECAR_NAME}`,
  "host-network": "hostNetwork pods share the node's network: capture rules would apply to the node",
  "no-service": `no service name: give the pod label app (or app.kubernetes.io/name) or annotation ${SERVICE_ANNOTATION}`,
  "no-containers": "the pod has no containers",
  "bad-annotation": "a lanecar.io annotation is not valid",
};

function obj(v: Json | undefined): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v : undefined;
}

function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}

function named(list: Json[], name: string): boolean {
  return list.some((c) => obj(c)?.name === name);
}

/** The service this pod serves: annotation, else the `app` label, else `app.kubernetes.io/name`. */
function serviceEnv(meta: JsonObject): JsonObject | undefined {
  const annotated = obj(meta.annotations)?.[SERVICE_ANNOTATION];
  if (typeof annotated === "string" && annotated) return { name: "LANECAR_SERVICE", value: annotated };
  const labels = obj(meta.labels) ?? {};
  for (const key of ["app", "app.kubernetes.io/name"])
    if (typeof labels[key] === "string" && labels[key])
      return {
        name: "LANECAR_SERVICE",
        valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: `metadata.labels['${key}']` } },
      };
  return undefined;
}

/**
 * The app's port: annotation, else the first TCP containerPort of the first app container that
 * declares one, else 8080. Undefined when the annotation is not a port.
 */
function appPort(meta: JsonObject, containers: Json[]): number | undefined {
  const annotated = obj(meta.annotations)?.[APP_PORT_ANNOTATION];
  if (annotated !== undefined) {
    const n = typeof annotated === "string" && /^\d{1,5}$/.test(annotated) ? Number(annotated) : 0;
    return n >= 1 && n <= 65535 ? n : undefined;
  }
  for (const c of containers)
    for (const p of arr(obj(c)?.ports)) {
      const port = obj(p);
      if (typeof port?.containerPort === "number" && (port.protocol ?? "TCP") === "TCP")
        return port.containerPort;
    }
  return 8080;
}

function initContainer(o: InjectOptions, capture: string[]): JsonObject {
  return {
    name: INIT_NAME,
    image: o.image,
    args: [
      "iptables",
      ...capture,
      "--inbound-port",
      String(PORTS.inbound),
      "--outbound-port",
      String(PORTS.outbound),
      "--proxy-uid",
      String(PROXY_UID),
      "--admin-port",
      String(PORTS.admin),
    ],
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      privileged: false,
      // iptables-legacy takes a lock file under /run.
      readOnlyRootFilesystem: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
    },
  };
}

function readyProbe(periodSeconds: number, failureThreshold: number): JsonObject {
  return {
    httpGet: { path: "/ready", port: PORTS.admin },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 3,
  };
}

function sidecarContainer(
  o: InjectOptions,
  service: JsonObject,
  port: number,
  probes: JsonObject,
): JsonObject {
  const source =
    o.configSource === "kubernetes" ? ["--discovery", "kubernetes"] : ["--config", o.configSource];
  const identity = sidecarIdentity(o);
  const c: JsonObject = {
    name: SIDECAR_NAME,
    image: o.image,
    args: [
      "sidecar",
      ...source,
      "--pod-labels-file",
      `${PODINFO_DIR}/labels`,
      "--inbound",
      `0.0.0.0:${PORTS.inbound}`,
      "--outbound",
      `127.0.0.1:${PORTS.outbound}`,
      // kubelet probes the pod IP, not loopback (see docs/threat-model.md).
      "--admin",
      `0.0.0.0:${PORTS.admin}`,
      "--app",
      `http://127.0.0.1:${port}`,
      ...identity.args,
    ],
    env: [
      {
        name: "LANECAR_NAMESPACE",
        valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } },
      },
      service,
      ...identity.env,
      ...(Object.keys(probes).length > 0
        ? [{ name: "LANECAR_APP_PROBES", value: JSON.stringify(probes) }]
        : []),
    ],
    ports: [
      { name: "lc-inbound", containerPort: PORTS.inbound, protocol: "TCP" },
      { name: "lc-outbound", containerPort: PORTS.outbound, protocol: "TCP" },
      { name: "lc-admin", containerPort: PORTS.admin, protocol: "TCP" },
    ],
    readinessProbe: readyProbe(2, 3),
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [{ name: PODINFO_VOLUME, mountPath: PODINFO_DIR, readOnly: true }, ...identity.mounts],
  };
  if (!o.classicSidecar) {
    // A native sidecar: the app containers start only once this probe passes, so the app's
    // first calls already find the outbound listener behind the capture rules.
    c.restartPolicy = "Always";
    c.startupProbe = readyProbe(1, 600);
  }
  return c;
}

/** Deep copy of plain JSON data. */
function clone<T extends Json | PodLike>(v: T): T {
  return structuredClone(v);
}

/** Where Prometheus's stock `kubernetes-pods` job finds an injected pod's metrics. */
const PROMETHEUS_ANNOTATIONS: JsonObject = {
  "prometheus.io/scrape": "true",
  "prometheus.io/port": "15000",
  "prometheus.io/path": "/metrics",
};

/** Injects the sidecar into a pod or pod template (see the module comment). */
export function injectPod(pod: PodLike, o: InjectOptions = INJECT_DEFAULTS): InjectOutcome {
  const meta = pod.metadata ?? {};
  const spec = pod.spec ?? {};
  if (obj(meta.annotations)?.[INJECT_ANNOTATION] === "false") return { injected: false, reason: "opted-out" };
  const containers = arr(spec.containers);
  const inits = arr(spec.initContainers);
  if (named(containers, SIDECAR_NAME) || named(inits, SIDECAR_NAME))
    return { injected: false, reason: "already-injected" };
  if (spec.hostNetwork === true) return { injected: false, reason: "host-network" };
  if (containers.length === 0) return { injected: false, reason: "no-containers" };
  const service = serviceEnv(meta);
  if (!service) return { injected: false, reason: "no-service" };

  const port = appPort(meta, containers);
  if (port === undefined)
    return {
      injected: false,
      reason: "bad-annotation",
      detail: `annotation ${APP_PORT_ANNOTATION}: ${JSON.stringify(obj(meta.annotations)?.[APP_PORT_ANNOTATION])} is not a port`,
    };
  const capture = captureArgs(obj(meta.annotations) ?? {}, port);
  if ("error" in capture) return { injected: false, reason: "bad-annotation", detail: capture.error };

  const out = clone(pod);
  const m = (out.metadata ??= {});
  const s = (out.spec ??= {});
  // With an identity the inbound may be STRICT: kubelet's plaintext HTTP probes go via the admin port.
  const rewritten =
    o.identity === "none"
      ? { containers: arr(s.containers), probes: {} }
      : rewriteAppProbes(arr(s.containers), PORTS.admin);
  s.containers = rewritten.containers;
  const sidecar = sidecarContainer(o, service, port, rewritten.probes as unknown as JsonObject);
  const volume: JsonObject = {
    name: PODINFO_VOLUME,
    downwardAPI: {
      items: [{ path: "labels", fieldRef: { apiVersion: "v1", fieldPath: "metadata.labels" } }],
    },
  };
  const ours = (v: Json) => obj(v)?.name === PODINFO_VOLUME || obj(v)?.name === IDENTITY_VOLUME;
  s.volumes = [
    ...arr(s.volumes).filter((v) => !ours(v)),
    volume,
    ...(o.identity === "none" ? [] : [identityVolume(PROXY_UID)]),
  ];
  const labels = withTlsModeLabel(m.labels, o);
  if (labels) m.labels = labels;
  const keptInits = arr(s.initContainers).filter((c) => obj(c)?.name !== INIT_NAME);
  if (o.classicSidecar) {
    s.initContainers = [initContainer(o, capture.args), ...keptInits];
    s.containers = [sidecar, ...arr(s.containers)];
    // `kubectl logs/exec` keep picking the app, not the sidecar now listed first.
    const annotations = (obj(m.annotations) ?? {}) as JsonObject;
    const first = obj(containers[0])?.name;
    if (annotations["kubectl.kubernetes.io/default-container"] === undefined && typeof first === "string")
      m.annotations = { ...annotations, "kubectl.kubernetes.io/default-container": first };
  } else {
    s.initContainers = [initContainer(o, capture.args), sidecar, ...keptInits];
  }
  // As Istio's injector: the stock `kubernetes-pods` Prometheus job scrapes the sidecar's admin
  // port (Istio's metrics live there); annotations the pod already has are kept.
  m.annotations = { ...PROMETHEUS_ANNOTATIONS, ...((obj(m.annotations) ?? {}) as JsonObject) };
  return { injected: true, pod: out };
}
