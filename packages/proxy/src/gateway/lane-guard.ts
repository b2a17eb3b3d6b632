/**
 * Lane spoofing defence at the edge. A client outside the mesh must not pick a lane it was not
 * given: at the gateway, client-sent lane headers (any case, `_` for `-`), lane baggage members
 * and the lane token header are invisible to label resolution and never forwarded. A lane is
 * granted only by the matched gateway route — it sets the label header (`headers.request.set`),
 * or one of its match blocks tests that header, which admits the client's value — or by a valid
 * signed lane token (lane-token.ts).
 */
import type { CompiledRoute, ConfigSnapshot, HeaderGetter } from "@lanecar/core";
import { isValidLabelValue } from "@lanecar/core";
import { removeBaggageMemberVariants } from "../propagation/baggage.js";
import { LANE_TOKEN_HEADER, type LaneTokenVerifier } from "./lane-token.js";

/**
 * The label names the edge treats as lanes: every label of every TrafficLabel loaded (any
 * namespace, any workload selector), plus those the gateway itself resolves. A TrafficLabel that
 * selects only app workloads still names a header the first sidecar trusts, so the gateway must
 * not let clients set it.
 */
export function edgeLaneLabels(snap: ConfigSnapshot, resolved: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const n of resolved) names.add(n.toLowerCase());
  for (const tl of snap.ofKind("TrafficLabel"))
    for (const rule of tl.spec.rules) for (const l of rule.labels) names.add(l.name.toLowerCase());
  return names;
}

export class LaneGuard {
  constructor(
    /** Lane label names (lower-case): every TrafficLabel label loaded (edgeLaneLabels). */
    readonly owned: ReadonlySet<string>,
    private readonly tokens: LaneTokenVerifier | undefined,
  ) {}

  /** A getter for label resolution that cannot see client-sent lane values. */
  trusted(base: HeaderGetter): HeaderGetter {
    const owned = this.owned;
    return (name) => {
      if (owned.has(name) || name === LANE_TOKEN_HEADER) return undefined;
      if (name === "baggage") {
        const b = base("baggage");
        return b === undefined ? undefined : withoutLaneMembers(b, owned);
      }
      return base(name);
    };
  }

  /**
   * The labels the request may carry past the edge: trusted values, overridden by what the
   * matched route grants (its `set`, else a token, else a header its match tested).
   */
  grant(
    trusted: Readonly<Record<string, string>>,
    route: CompiledRoute | undefined,
    matchIndex: number,
    client: HeaderGetter,
  ): Record<string, string> {
    const out: Record<string, string> = { ...trusted };
    const token = this.tokens?.verify(client(LANE_TOKEN_HEADER));
    const tested = route && matchIndex >= 0 ? route.matches[matchIndex]!.headerNames : undefined;
    const set = route?.spec.headers?.request?.set;
    for (const label of this.owned) {
      const fromRoute = set?.find(([n]) => n === label)?.[1];
      if (fromRoute !== undefined && isValidLabelValue(fromRoute)) {
        out[label] = fromRoute;
        continue;
      }
      if (token && token.label === label) {
        out[label] = token.lane;
        continue;
      }
      if (tested?.includes(label)) {
        const v = client(label);
        if (v !== undefined && isValidLabelValue(v)) out[label] = v;
      }
    }
    return out;
  }

  /** Removes lane members of every owned label from forwarded baggage (before lanes are set). */
  stripBaggage(headers: string[]): void {
    stripLaneBaggage(headers, this.owned);
  }
}

/**
 * Removes members of every label in `owned` (any case, `_` for `-`) from the baggage headers of
 * a flat header array: at the gateway for client-sent lanes, and on egress, where lanes end.
 */
export function stripLaneBaggage(headers: string[], owned: ReadonlySet<string>): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== "baggage") continue;
    headers[i + 1] = withoutLaneMembers(headers[i + 1]!, owned);
  }
}

/** A baggage value without the members of any label in `owned`, whatever their spelling. */
function withoutLaneMembers(baggage: string, owned: ReadonlySet<string>): string {
  let v = baggage;
  for (const l of owned) v = removeBaggageMemberVariants(v, l);
  return v;
}
