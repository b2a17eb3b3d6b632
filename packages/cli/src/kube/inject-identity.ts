/**
 * The workload identity part of injection (issue 15 on Kubernetes): the pod's SPIFFE certificate
 * comes from cert-manager's csi-driver-spiffe, never from a CA of Lanecar's own. The injected
 * sidecar gets
 * - a CSI volume of driver `spiffe.csi.cert-manager.io`, mounted read-only at IDENTITY_DIR and
 *   passed as `--identity-dir`; the driver writes the pod's key, its certificate for
 *   `spiffe://<trust-domain>/ns/<namespace>/sa/<service account>` and the mesh root there, under
 *   the names `--identity-dir` reads (the driver is installed with those names:
 *   deploy/kubernetes/cert-manager/csi-driver-spiffe-values.yaml), and renews them in place;
 *   `fs-group` makes them readable by the sidecar's group (1337) and nobody else in the pod;
 * - its service account (`spec.serviceAccountName`, downward API) as `LANECAR_SERVICE_ACCOUNT`,
 *   so the sidecar can check that the certificate names the pod it runs in;
 * and the pod gets label `security.istio.io/tlsMode: istio`, as Istio's injector adds it (auto
 * mTLS of clients reads it); a value the pod already has is kept, as Istio's injection template
 * does (`disabled`: clients do not originate mTLS to it).
 * `identity: "none"` (clusters without cert-manager) injects none of it.
 */
import type { Json, JsonObject } from "./inject-pod.js";

export type IdentitySource = "csi-driver-spiffe" | "none";
export const IDENTITY_SOURCES: readonly IdentitySource[] = ["csi-driver-spiffe", "none"];

export const IDENTITY_VOLUME = "lanecar-identity";
export const IDENTITY_DIR = "/var/run/secrets/lanecar/identity";
export const SPIFFE_CSI_DRIVER = "spiffe.csi.cert-manager.io";
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";
export const DEFAULT_TRUST_DOMAIN = "cluster.local";

export interface IdentityOptions {
  identity: IdentitySource;
  /** The trust domain csi-driver-spiffe issues for (`app.trustDomain` of its install). */
  trustDomain: string;
}

/** The CSI volume the driver fills with the pod's SPIFFE credentials. */
export function identityVolume(proxyGid: number): JsonObject {
  return {
    name: IDENTITY_VOLUME,
    csi: {
      driver: SPIFFE_CSI_DRIVER,
      readOnly: true,
      // Without it the files are 0600 root's; with it 0440 of this group: the sidecar's only.
      volumeAttributes: { "spiffe.csi.cert-manager.io/fs-group": String(proxyGid) },
    },
  };
}

/** What the sidecar container gains: arguments, environment, mount. */
export function sidecarIdentity(o: IdentityOptions): {
  args: string[];
  env: JsonObject[];
  mounts: JsonObject[];
} {
  if (o.identity === "none") return { args: [], env: [], mounts: [] };
  const args = ["--identity-dir", IDENTITY_DIR];
  if (o.trustDomain !== DEFAULT_TRUST_DOMAIN) args.push("--trust-domain", o.trustDomain);
  return {
    args,
    env: [
      {
        name: "LANECAR_SERVICE_ACCOUNT",
        valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "spec.serviceAccountName" } },
      },
    ],
    mounts: [{ name: IDENTITY_VOLUME, mountPath: IDENTITY_DIR, readOnly: true }],
  };
}

/** The pod's labels with the tlsMode label Istio's injector adds (an existing value is kept). */
export function withTlsModeLabel(labels: Json | undefined, o: IdentityOptions): JsonObject | undefined {
  const current =
    labels !== null && typeof labels === "object" && !Array.isArray(labels) ? labels : undefined;
  if (o.identity === "none" || current?.[TLS_MODE_LABEL] !== undefined) return current;
  return { ...(current ?? {}), [TLS_MODE_LABEL]: "istio" };
}
