/**
 * HTTPMatchRequest compiled into a predicate over the request. Conditions inside one match block
 * are ANDed; the blocks of a route are ORed by the route table.
 */
import { labelSelectorMatches } from "../label/resolver.js";
import type { MatchRequest } from "../resources/types.js";
import type { RouteContext, RouteRequest } from "./request.js";
import { compileStringMatch, type ValuePredicate } from "./string-match.js";

export interface CompiledMatch {
  readonly name: string | undefined;
  /** The `uri.prefix` this block matched on, used by `rewrite.uri`. */
  readonly uriPrefix: string | undefined;
  /** Header names (lower-case) this block tests with `headers` (a gateway route grants these lanes). */
  readonly headerNames: readonly string[];
  test(req: RouteRequest, uriPath: string, query: URLSearchParams | undefined, ctx: RouteContext): boolean;
  readonly needsQuery: boolean;
}

type Cond = (
  req: RouteRequest,
  uriPath: string,
  query: URLSearchParams | undefined,
  ctx: RouteContext,
) => boolean;

export function compileMatch(m: MatchRequest): CompiledMatch {
  const conds: Cond[] = [];
  if (m.uri) {
    // Istio ignores case for exact and prefix URI matches only; a regex keeps its own case rules.
    const p = compileStringMatch(m.uri, m.ignoreUriCase && m.uri.kind !== "regex");
    conds.push((_r, path) => p(path));
  }
  if (m.method) {
    const p = compileStringMatch(m.method);
    conds.push((r) => p(r.method));
  }
  if (m.scheme) {
    const p = compileStringMatch(m.scheme);
    conds.push((r) => p(r.scheme));
  }
  if (m.authority) {
    const p = compileStringMatch(m.authority);
    conds.push((r) => p(r.authority));
  }
  for (const [name, sm] of m.headers) {
    const p: ValuePredicate = compileStringMatch(sm);
    conds.push((r) => {
      const v = r.header(name);
      return v !== undefined && p(v);
    });
  }
  for (const [name, sm] of m.withoutHeaders) {
    const p: ValuePredicate = compileStringMatch(sm);
    conds.push((r) => {
      const v = r.header(name);
      return v === undefined || !p(v);
    });
  }
  for (const [name, sm] of m.queryParams) {
    const p: ValuePredicate = compileStringMatch(sm);
    conds.push((_r, _p, q) => {
      const v = q?.get(name);
      return v !== undefined && v !== null && p(v);
    });
  }
  if (m.port !== undefined) {
    const port = m.port;
    conds.push((r) => r.port === port);
  }
  if (m.sourceLabels) {
    const sel = m.sourceLabels;
    conds.push((_r, _p, _q, ctx) => labelSelectorMatches(sel, ctx.podLabels));
  }
  if (m.sourceNamespace !== undefined) {
    const ns = m.sourceNamespace;
    conds.push((_r, _p, _q, ctx) => ctx.namespace === ns);
  }
  const n = conds.length;
  const test: CompiledMatch["test"] =
    n === 0
      ? () => true
      : n === 1
        ? conds[0]!
        : (req, path, q, ctx) => {
            for (let i = 0; i < n; i++) if (!conds[i]!(req, path, q, ctx)) return false;
            return true;
          };
  return {
    name: m.name,
    uriPrefix: m.uri?.kind === "prefix" ? m.uri.value : undefined,
    headerNames: m.headers.map(([name]) => name),
    test,
    needsQuery: m.queryParams.length > 0,
  };
}
