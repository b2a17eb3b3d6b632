/**
 * The DestinationRules of one snapshot by host, as one workload sees them: rules with a
 * `workloadSelector` apply only to the workload `scopeTo` names (matching labels, the rule's
 * namespace) and then come before rules without one, as in Istio. Unscoped (explain, tests),
 * selective rules apply to nobody.
 */
import { fqdn, HostIndex } from "../hosts.js";
import { labelSelectorMatches } from "../label/resolver.js";
import type { DestinationRuleSpec } from "../resources/types.js";

export interface ResolvedDestinationRule {
  id: string;
  namespace: string;
  spec: DestinationRuleSpec;
}

export class DestinationRules {
  private readonly general = new HostIndex<ResolvedDestinationRule>();
  private readonly selective: ResolvedDestinationRule[] = [];
  /** The selective rules that apply to the scoped workload. */
  private scoped: HostIndex<ResolvedDestinationRule> | undefined;
  private scopeKey = "";

  constructor(rules: readonly ResolvedDestinationRule[]) {
    for (const r of rules) {
      if (r.spec.workloadSelector) this.selective.push(r);
      else this.general.set(fqdn(r.spec.host, r.namespace), r);
    }
  }

  get(host: string): ResolvedDestinationRule | undefined {
    return this.scoped?.get(host) ?? this.general.get(host);
  }

  /** Subset names any rule for `host` defines (whichever workload it applies to). */
  subsetNames(host: string): string[] {
    const out = (this.general.get(host)?.spec.subsets ?? []).map((s) => s.name);
    for (const r of this.selective)
      if (fqdn(r.spec.host, r.namespace) === host) for (const s of r.spec.subsets) out.push(s.name);
    return out;
  }

  /** Scopes to a workload; true when the rules it sees changed. */
  scopeTo(namespace: string, labels: Readonly<Record<string, string>>): boolean {
    const key = `${namespace}\0${Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(",")}`;
    if (key === this.scopeKey) return false;
    this.scopeKey = key;
    const idx = new HostIndex<ResolvedDestinationRule>();
    let any = false;
    for (const r of this.selective) {
      if (r.namespace !== namespace || !labelSelectorMatches(r.spec.workloadSelector!, labels)) continue;
      idx.set(fqdn(r.spec.host, r.namespace), r);
      any = true;
    }
    if (!any && this.scoped === undefined) return false;
    this.scoped = any ? idx : undefined;
    return true;
  }
}
