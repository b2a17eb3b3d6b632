/**
 * Label resolution: for each label a workload's TrafficLabels define, walk its `valueFrom` list
 * and take the first *valid* value. Core stores nothing: the caller passes the request headers,
 * this pod's labels and a correlation lookup (the proxy's store).
 *
 * Direction decides which functions apply: inbound (sidecar inbound, gateway) reads
 * `$getInboundRequestHeader`; outbound (the app's calls) reads `$getLocalOutboundRequestHeader`
 * and the correlated inbound request. `$getContext(ctx)` on inbound reads the label header the
 * previous hop attached (header named like the label); on outbound it reads the label recorded
 * for the correlated inbound request. A function that does not apply yields nothing.
 */
import type { TrafficLabelSpec, ValueSource } from "../resources/types.js";
import { requestCorrelationKey } from "./correlation-key.js";
import { isValidLabelValue } from "./label-value.js";

export type Direction = "inbound" | "outbound";

/** Reads one header of the request at hand (lower-case name); joined with ", " when repeated. */
export type HeaderGetter = (name: string) => string | undefined;

/** What the correlation store keeps for an inbound request. */
export interface CorrelationRecord {
  /** Inbound headers that TrafficLabel functions name (lower-case name → value). */
  readonly headers: Readonly<Record<string, string>>;
  /** Labels resolved on that inbound request. */
  readonly labels: Readonly<Record<string, string>>;
}

/** Finds the record of the inbound request whose header `ctx` had normalized value `key`. */
export type CorrelationLookup = (ctx: string, key: string) => CorrelationRecord | undefined;

export interface ResolvedLabels {
  /** Label name (lower-case) → value; only labels that resolved. */
  values: Record<string, string>;
  /** How many candidate values were rejected as invalid (for `lanecar_invalid_labels_total`). */
  invalid: number;
  /** For each resolved label, which valueFrom text produced it (for explain). */
  from: Record<string, string>;
}

export interface LabelDefinition {
  name: string;
  valueFrom: readonly ValueSource[];
  raw: readonly string[];
  /** Also carried as a W3C baggage member (`attachTo: opentracing`). */
  baggage: boolean;
  /** `TrafficLabel/ns/name` that defined it. */
  origin: string;
}

function readBaggage(header: string | undefined, key: string): string | undefined {
  if (!header) return undefined;
  for (const member of header.split(",")) {
    const eq = member.indexOf("=");
    if (eq < 0) continue;
    if (member.slice(0, eq).trim() !== key) continue;
    const v = member
      .slice(eq + 1)
      .split(";")[0]!
      .trim();
    try {
      return decodeURIComponent(v);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export class LabelResolver {
  /** Inbound headers the correlation record must keep. */
  readonly recordHeaders: readonly string[];
  /** Correlation headers the functions name (`ctx` arguments). */
  readonly contextHeaders: readonly string[];
  readonly baggageLabels: readonly string[];

  constructor(readonly labels: readonly LabelDefinition[]) {
    const rec = new Set<string>();
    const ctx = new Set<string>();
    for (const l of labels) {
      for (const s of l.valueFrom) {
        if (s.fn === "externalInboundHeader") {
          rec.add(s.header);
          ctx.add(s.ctx);
        } else if (s.fn === "context") ctx.add(s.ctx);
      }
    }
    this.recordHeaders = [...rec];
    this.contextHeaders = [...ctx];
    this.baggageLabels = labels.filter((l) => l.baggage).map((l) => l.name);
  }

  get empty(): boolean {
    return this.labels.length === 0;
  }

  resolve(
    direction: Direction,
    header: HeaderGetter,
    podLabels: Readonly<Record<string, string>>,
    lookup?: CorrelationLookup,
  ): ResolvedLabels {
    const values: Record<string, string> = {};
    const from: Record<string, string> = {};
    let invalid = 0;
    for (const def of this.labels) {
      const sources = def.valueFrom;
      for (let i = 0; i < sources.length; i++) {
        const v = evaluate(sources[i]!, def.name, direction, header, podLabels, lookup);
        // Not a string: absent, or a plain-object lookup that hit Object.prototype (`$getLabel(constructor)`).
        // An empty value is no value, not an invalid one: it is not counted.
        if (typeof v !== "string" || v === "") continue;
        if (!isValidLabelValue(v)) {
          invalid++;
          continue;
        }
        values[def.name] = v;
        from[def.name] = def.raw[i] ?? "";
        break;
      }
    }
    return { values, invalid, from };
  }
}

function correlated(
  ctx: string,
  header: HeaderGetter,
  lookup: CorrelationLookup | undefined,
): CorrelationRecord | undefined {
  if (!lookup) return undefined;
  // A trace-id context finds its record whichever trace form (traceparent, b3, x-b3-traceid) the app forwards.
  const key = requestCorrelationKey(ctx, header);
  return key === undefined ? undefined : lookup(ctx, key);
}

function evaluate(
  s: ValueSource,
  labelName: string,
  direction: Direction,
  header: HeaderGetter,
  podLabels: Readonly<Record<string, string>>,
  lookup: CorrelationLookup | undefined,
): string | undefined {
  switch (s.fn) {
    case "inboundHeader":
      return direction === "inbound" ? header(s.header) : undefined;
    case "outboundHeader":
      return direction === "outbound" ? header(s.header) : undefined;
    case "externalInboundHeader":
      return direction === "outbound" ? correlated(s.ctx, header, lookup)?.headers[s.header] : undefined;
    case "context":
      return direction === "inbound"
        ? header(labelName)
        : correlated(s.ctx, header, lookup)?.labels[labelName];
    case "podLabel":
      return podLabels[s.label];
    case "baggage":
      return readBaggage(header("baggage"), s.key);
  }
}

export function labelSelectorMatches(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * Builds the resolver for one workload from the TrafficLabels of its namespace: those whose
 * `workloadSelector` matches its pod labels (absent = all). When two define the same label, the
 * one with a selector wins over a namespace-wide one; ties go to the earlier one by name.
 */
export function resolverFor(
  trafficLabels: readonly { id: string; namespace: string; name: string; spec: TrafficLabelSpec }[],
  namespace: string,
  podLabels: Readonly<Record<string, string>>,
  rootNamespace = "istio-system",
): LabelResolver {
  const applicable = trafficLabels
    .filter(
      (t) =>
        (t.namespace === namespace || t.namespace === rootNamespace) &&
        labelSelectorMatches(t.spec.workloadSelector, podLabels),
    )
    .sort((a, b) => {
      const rank = (t: typeof a) => (t.spec.workloadSelector ? 0 : 1) + (t.namespace === namespace ? 0 : 2);
      return rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
  const seen = new Set<string>();
  const defs: LabelDefinition[] = [];
  for (const t of applicable) {
    for (const rule of t.spec.rules) {
      const baggage = rule.attachTo.includes("opentracing") || rule.attachTo.includes("*");
      for (const l of rule.labels) {
        if (seen.has(l.name)) continue;
        seen.add(l.name);
        defs.push({ name: l.name, valueFrom: l.valueFrom, raw: l.raw, baggage, origin: t.id });
      }
    }
  }
  return new LabelResolver(defs);
}
