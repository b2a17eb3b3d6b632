/**
 * Istio PeerAuthentication (`security.istio.io/v1`, `v1beta1`): the mutual-TLS mode of one
 * workload port. Precedence, as Istio: a policy with a selector matching the workload (in its
 * namespace; its `portLevelMtls` for the port first) over the namespace's policy without selector
 * over the mesh-wide one (root namespace, no selector); `UNSET` (or no `mtls`) inherits from the
 * next level; nothing at all is PERMISSIVE. Several policies at one level: Istio takes the oldest;
 * Lanecar has no creation times for files and takes the first by name (and says so in validation).
 */
import { type NamedPolicy, policyApplies, ROOT_NAMESPACE, type Workload } from "./authorization-policy.js";

export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";
type ModeOrUnset = MtlsMode | "UNSET";

export interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: ModeOrUnset };
  portLevelMtls?: Record<string, { mode?: ModeOrUnset }>;
}

export interface MtlsDecision {
  mode: MtlsMode;
  /** `namespace/name` of the policy that set the mode, null for the default. */
  policy: string | null;
}

const MODES = new Set(["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]);

function byName<S>(a: NamedPolicy<S>, b: NamedPolicy<S>): number {
  const x = `${a.namespace}/${a.name}`;
  const y = `${b.namespace}/${b.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The mode for `port` of the workload. */
export function mtlsModeFor(
  policies: readonly NamedPolicy<PeerAuthenticationSpec>[],
  w: Workload,
  port: number,
  rootNamespace = ROOT_NAMESPACE,
): MtlsDecision {
  const applying = policies.filter((p) => policyApplies(p, w, rootNamespace)).sort(byName);
  const workloadLevel = applying.find((p) => p.spec.selector?.matchLabels && p.namespace === w.namespace);
  const namespaceLevel = applying.find((p) => !p.spec.selector?.matchLabels && p.namespace === w.namespace);
  const meshLevel = applying.find((p) => !p.spec.selector?.matchLabels && p.namespace === rootNamespace);
  const id = (p: NamedPolicy<PeerAuthenticationSpec>) => `${p.namespace}/${p.name}`;
  if (workloadLevel) {
    const portMode = workloadLevel.spec.portLevelMtls?.[String(port)]?.mode;
    if (portMode && portMode !== "UNSET") return { mode: portMode, policy: id(workloadLevel) };
  }
  for (const p of [workloadLevel, namespaceLevel, meshLevel]) {
    const m = p?.spec.mtls?.mode;
    if (p && m && m !== "UNSET") return { mode: m, policy: id(p) };
  }
  return { mode: "PERMISSIVE", policy: null };
}

export interface PeerAuthProblem {
  severity: "error" | "warning";
  path: string;
  message: string;
}

/** Istio's validation of a PeerAuthentication spec. */
export function checkPeerAuthentication(
  spec: PeerAuthenticationSpec,
  namespace: string,
  rootNamespace = ROOT_NAMESPACE,
): PeerAuthProblem[] {
  const out: PeerAuthProblem[] = [];
  const mode = spec.mtls?.mode;
  if (mode !== undefined && !MODES.has(mode))
    out.push({
      severity: "error",
      path: "spec.mtls.mode",
      message: `"${mode}" is not one of UNSET, DISABLE, PERMISSIVE, STRICT`,
    });
  if (spec.portLevelMtls) {
    if (!spec.selector?.matchLabels)
      out.push({ severity: "error", path: "spec.portLevelMtls", message: "requires a workload selector" });
    for (const [port, v] of Object.entries(spec.portLevelMtls)) {
      const n = Number(port);
      if (!/^\d+$/.test(port) || n < 1 || n > 65535)
        out.push({
          severity: "error",
          path: `spec.portLevelMtls.${port}`,
          message: `"${port}" is not a port number`,
        });
      if (v?.mode !== undefined && !MODES.has(v.mode))
        out.push({
          severity: "error",
          path: `spec.portLevelMtls.${port}.mode`,
          message: `"${v.mode}" is not one of UNSET, DISABLE, PERMISSIVE, STRICT`,
        });
    }
  }
  if (spec.selector?.matchLabels && namespace === rootNamespace)
    out.push({
      severity: "warning",
      path: "spec.selector",
      message: `a selector in the root namespace (${rootNamespace}) selects only workloads of that namespace`,
    });
  return out;
}
