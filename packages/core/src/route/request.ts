/** The request view routing reads, and who is asking. Built by the proxy, or by `explain`. */
import type { HeaderGetter } from "../label/resolver.js";

export interface RouteRequest {
  method: string;
  /** Path and query as received (origin form), e.g. `/reviews/0?x=1`. */
  path: string;
  /** Host header / absolute-form authority, e.g. `reviews:9080`. */
  authority: string;
  scheme: string;
  /** Destination port: from the authority, else the listener's. */
  port: number | undefined;
  header: HeaderGetter;
  /** Downstream address (consistentHash `useSourceIp`). */
  sourceIp?: string;
}

export interface RouteContext {
  /** `mesh` for sidecars; `ns/name` of the Gateway for gateways. */
  gateway: string;
  /** Namespace of the workload making the call (short host expansion, `sourceNamespace`). */
  namespace: string;
  /** Pod labels of the calling workload (`sourceLabels`). */
  podLabels: Readonly<Record<string, string>>;
}

/** Builds a header getter over a plain object of lower-case names (tests, explain). */
export function headerGetter(headers: Readonly<Record<string, string | string[] | undefined>>): HeaderGetter {
  // No prototype: a header named `constructor` or `__proto__` is just a header.
  const lower: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const key = k.toLowerCase();
    const val = Array.isArray(v) ? v.join(", ") : v;
    lower[key] = lower[key] === undefined ? val : `${lower[key]}, ${val}`;
  }
  return (name) => lower[name];
}
