/**
 * Raw resources → validated, normalized resources, with every problem reported at once:
 * per-resource checks (Istio's rules, lane rules) then cross-resource checks (duplicate names,
 * subsets referenced by routes, fallback cycles, dangling references).
 */
import { type Diagnostic, sortDiagnostics } from "../diagnostics.js";
import { fqdn, HostIndex } from "../hosts.js";
import { Check, resourceId } from "./check.js";
import { checkDestinationRule } from "./destination-rule.js";
import { checkAuthorizationPolicyResource, checkPeerAuthenticationResource } from "./security.js";
import { type ConfigText, parseConfigText, type RawResource, type SourceDoc } from "./source.js";
import { checkTrafficLabel } from "./traffic-label.js";
import type { DestinationRuleSpec, Fallback, KindName, KindSpecs, VirtualServiceSpec } from "./types.js";
import { checkVirtualService, subsetTemplate } from "./virtual-service.js";
import { checkGateway, checkServiceEntry, checkWorkloadEntry, checkWorkloadGroup } from "./workloads.js";

const NETWORKING = ["networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1"];
const ASM = ["istio.alibabacloud.com/v1beta1", "istio.alibabacloud.com/v1"];
const SECURITY = ["security.istio.io/v1beta1", "security.istio.io/v1"];

const OWN_GROUPS = ["networking.istio.io", "istio.alibabacloud.com", "security.istio.io"];

type Checker = (c: Check, spec: unknown) => unknown;

const KINDS: Record<KindName, { apiVersions: string[]; check: Checker }> = {
  VirtualService: { apiVersions: NETWORKING, check: checkVirtualService },
  DestinationRule: { apiVersions: NETWORKING, check: checkDestinationRule },
  ServiceEntry: { apiVersions: NETWORKING, check: checkServiceEntry },
  WorkloadEntry: { apiVersions: NETWORKING, check: checkWorkloadEntry },
  WorkloadGroup: { apiVersions: NETWORKING, check: checkWorkloadGroup },
  Gateway: { apiVersions: NETWORKING, check: checkGateway },
  TrafficLabel: { apiVersions: ASM, check: checkTrafficLabel },
  // Read and validated here; enforced by the sidecar's inbound (proxy inbound/inbound-security.ts).
  PeerAuthentication: { apiVersions: SECURITY, check: checkPeerAuthenticationResource },
  AuthorizationPolicy: { apiVersions: SECURITY, check: checkAuthorizationPolicyResource },
};

export const SUPPORTED_KINDS = Object.keys(KINDS) as KindName[];

export interface ValidResource<K extends KindName = KindName> {
  kind: K;
  apiVersion: string;
  name: string;
  namespace: string;
  /** `Kind/namespace/name`. */
  id: string;
  labels: Record<string, string>;
  spec: KindSpecs[K];
  source: SourceDoc;
}

export interface LoadOptions {
  /** Default for `metadata.namespace` (the process's `--namespace`). */
  namespace?: string;
  /** Resources read from somewhere else than text (Kubernetes API objects), validated after the texts. */
  raw?: readonly RawResource[];
  /** Services also come from a platform registry: a host no ServiceEntry defines is no warning. */
  platformServices?: boolean;
}

export interface LoadResult {
  resources: ValidResource[];
  diagnostics: Diagnostic[];
  /** Every resource document read, valid or not (for config_dump). */
  files: string[];
}

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkOne(raw: RawResource, out: Diagnostic[]): ValidResource | undefined {
  const c = new Check(raw, out);
  if (!raw.kind) {
    c.error("kind", "is required");
    return undefined;
  }
  // Own properties only: `kind: constructor` is no kind of ours.
  const kind = Object.hasOwn(KINDS, raw.kind) ? KINDS[raw.kind as KindName] : undefined;
  if (!kind) {
    c.warn("kind", `kind ${raw.kind} is not used by Lanecar; skipped`);
    return undefined;
  }
  // Another API group's kind of the same name (Gateway API `gateway.networking.k8s.io` Gateway)
  // is not ours to judge: skipped like any other foreign kind. A wrong version of our own groups
  // (`networking.istio.io/v1alpha2`) is still an error, since Istio would reject it.
  const group = raw.apiVersion.includes("/") ? raw.apiVersion.slice(0, raw.apiVersion.indexOf("/")) : "";
  if (raw.apiVersion && !OWN_GROUPS.includes(group)) {
    c.warn("kind", `${raw.apiVersion} ${raw.kind} is not used by Lanecar; skipped`);
    return undefined;
  }
  if (!kind.apiVersions.includes(raw.apiVersion)) {
    c.error(
      "apiVersion",
      `${raw.apiVersion ? `"${raw.apiVersion}"` : "missing"}: ${raw.kind} needs one of ${kind.apiVersions.join(", ")}`,
    );
    return undefined;
  }
  const before = out.filter((d) => d.severity === "error").length;
  if (!raw.name) c.error("metadata.name", "is required");
  else if (raw.name.length > 253 || !DNS1123.test(raw.name))
    c.error("metadata.name", `"${raw.name}" is not a valid resource name (lower-case DNS-1123)`);
  if (!DNS1123.test(raw.namespace))
    c.error("metadata.namespace", `"${raw.namespace}" is not a valid namespace`);
  const spec = kind.check(c, raw.spec);
  const after = out.filter((d) => d.severity === "error").length;
  if (spec === undefined || after > before) return undefined;
  return {
    kind: raw.kind as KindName,
    apiVersion: raw.apiVersion,
    name: raw.name,
    namespace: raw.namespace,
    id: resourceId(raw),
    labels: raw.labels,
    spec: spec as KindSpecs[KindName],
    source: raw.source,
  };
}

function ofKind<K extends KindName>(rs: readonly ValidResource[], k: K): ValidResource<K>[] {
  return rs.filter((r) => r.kind === k) as ValidResource<K>[];
}

function chainKey(host: string, subset: string | undefined): string {
  return `${host}/${subset ?? "*"}`;
}

/** Cross-resource rules. Only resources that passed their own checks take part. */
function crossCheck(
  valid: ValidResource[],
  raws: Map<ValidResource, RawResource>,
  out: Diagnostic[],
  platformServices: boolean,
): void {
  const check = (r: ValidResource) => new Check(raws.get(r)!, out);
  const seen = new Map<string, ValidResource>();
  for (const r of valid) {
    const prior = seen.get(r.id);
    if (prior) check(r).error("metadata.name", `duplicate ${r.id} (first defined in ${prior.source.file})`);
    else seen.set(r.id, r);
  }
  const drs = new HostIndex<ValidResource<"DestinationRule">>();
  for (const dr of ofKind(valid, "DestinationRule")) {
    const host = fqdn(dr.spec.host, dr.namespace);
    if (drs.has(host))
      check(dr).warn("spec.host", `another DestinationRule already applies to ${host}; this one is ignored`);
    else drs.set(host, dr);
  }
  // Istio takes the oldest of several PeerAuthentications at one level; files have no creation
  // time, so the first by name wins and the others are named here.
  const paLevels = new Map<string, ValidResource<"PeerAuthentication">>();
  const pas = ofKind(valid, "PeerAuthentication").sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const pa of pas) {
    const sel = pa.spec.selector?.matchLabels;
    if (sel) continue; // workload-level: which ones overlap depends on the pods' labels
    const prior = paLevels.get(pa.namespace);
    if (prior)
      check(pa).warn(
        "spec",
        `${prior.id} is also a PeerAuthentication without selector in namespace ${pa.namespace}; the first by name applies, this one is ignored`,
      );
    else paLevels.set(pa.namespace, pa);
  }
  const serviceHosts = new Set<string>();
  for (const se of ofKind(valid, "ServiceEntry"))
    for (const h of se.spec.hosts) serviceHosts.add(fqdn(h, se.namespace));
  const labelNames = new Set<string>();
  for (const tl of ofKind(valid, "TrafficLabel"))
    for (const rule of tl.spec.rules) for (const l of rule.labels) labelNames.add(l.name);
  const gateways = new Set(ofKind(valid, "Gateway").map((g) => `${g.namespace}/${g.name}`));

  const subsetsOf = (host: string): DestinationRuleSpec["subsets"] | undefined => drs.get(host)?.spec.subsets;
  const checkRef = (c: Check, ns: string, host: string, subset: string | undefined, path: string) => {
    const h = fqdn(host, ns);
    if (!platformServices && !serviceHosts.has(h) && !h.startsWith("*")) {
      c.warn(`${path}.host`, `no ServiceEntry defines host ${h}; requests to it get 503 UH`);
    }
    if (subset === undefined) return;
    const label = subsetTemplate(subset);
    if (label !== undefined) {
      if (!labelNames.has(label.toLowerCase()))
        c.warn(`${path}.subset`, `no TrafficLabel defines label "${label}"; "$${label}" never resolves`);
      return;
    }
    if (!subsetsOf(h)?.some((s) => s.name === subset)) {
      c.error(`${path}.subset`, `subset "${subset}" is not defined by any DestinationRule for host ${h}`);
    }
  };

  const hostOwners = new Map<string, ValidResource>();
  for (const vs of ofKind(valid, "VirtualService")) {
    const c = check(vs);
    const spec: VirtualServiceSpec = vs.spec;
    for (const [i, h] of spec.hosts.entries()) {
      for (const g of spec.gateways) {
        const ctx = g === "mesh" ? "mesh" : g.includes("/") ? g : `${vs.namespace}/${g}`;
        const key = `${ctx}|${fqdn(h, vs.namespace)}`;
        const owner = hostOwners.get(key);
        if (owner)
          c.warn(
            `spec.hosts[${i}]`,
            `host ${h} in ${ctx} is already routed by ${owner.id}; this VirtualService is ignored there`,
          );
        else hostOwners.set(key, vs);
      }
    }
    spec.gateways.forEach((g, i) => {
      if (g === "mesh") return;
      const q = g.includes("/") ? g : `${vs.namespace}/${g}`;
      if (!gateways.has(q)) c.warn(`spec.gateways[${i}]`, `Gateway ${q} is not defined`);
    });
    spec.http.forEach((r, i) => {
      r.route.forEach((d, j) => {
        const p = `spec.http[${i}].route[${j}]`;
        checkRef(c, vs.namespace, d.destination.host, d.destination.subset, `${p}.destination`);
        // Fallback chain: every target must exist, and no (host, subset) may repeat.
        const chain = [chainKey(fqdn(d.destination.host, vs.namespace), d.destination.subset)];
        let fb: Fallback | undefined = d.fallback;
        let fp = `${p}.fallback`;
        while (fb) {
          checkRef(c, vs.namespace, fb.target.host, fb.target.subset, `${fp}.target`);
          const k = chainKey(fqdn(fb.target.host, vs.namespace), fb.target.subset);
          // `$label` → `prod` edited to `prod` → `prod`: a step to where the request already is
          // does nothing, but is no loop; a cycle needs two distinct targets.
          if (k === chain[chain.length - 1]) {
            c.warn(
              `${fp}.target`,
              `fallback target ${k} is the destination it falls back from; it never applies`,
            );
          } else if (chain.includes(k)) {
            c.error(`${fp}.target`, `fallback cycle: ${[...chain, k].join(" → ")}`);
            break;
          }
          if (k !== chain[chain.length - 1]) chain.push(k);
          fb = fb.target.fallback;
          fp = `${fp}.target.fallback`;
        }
      });
      r.mirrors.forEach((m, j) => {
        const p =
          r.mirrors.length === 1 && j === 0
            ? `spec.http[${i}].mirror`
            : `spec.http[${i}].mirrors[${j}].destination`;
        checkRef(c, vs.namespace, m.destination.host, m.destination.subset, p);
      });
    });
  }
}

/** Parses and validates config texts. Resources are returned only when they passed. */
export function loadResources(texts: readonly ConfigText[], opts: LoadOptions = {}): LoadResult {
  const namespace = opts.namespace ?? "default";
  const diagnostics: Diagnostic[] = [];
  const valid: ValidResource[] = [];
  const raws = new Map<ValidResource, RawResource>();
  for (const t of texts) {
    const parsed = parseConfigText(t, namespace);
    diagnostics.push(...parsed.diagnostics);
    for (const raw of parsed.resources) {
      const v = checkOne(raw, diagnostics);
      if (v) {
        valid.push(v);
        raws.set(v, raw);
      }
    }
  }
  for (const raw of opts.raw ?? []) {
    const v = checkOne(raw, diagnostics);
    if (v) {
      valid.push(v);
      raws.set(v, raw);
    }
  }
  crossCheck(valid, raws, diagnostics, opts.platformServices ?? false);
  return { resources: valid, diagnostics: sortDiagnostics(diagnostics), files: texts.map((t) => t.file) };
}
