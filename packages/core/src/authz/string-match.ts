/**
 * Istio's authorization string matching (AuthorizationPolicy `principals`, `namespaces`, `hosts`,
 * `paths`, `when` values): an exact value, a prefix `abc*`, a suffix `*abc`, or `*` for any
 * non-empty value. `*` anywhere else is invalid (Istio rejects the policy).
 */

export type Matcher = (value: string | undefined) => boolean;

/** Why `pattern` is not a valid Istio authorization pattern, or undefined. */
export function patternProblem(pattern: string): string | undefined {
  if (pattern === "") return "must not be empty";
  const inner = pattern.slice(1, -1);
  if (inner.includes("*") || (pattern.length > 1 && pattern.startsWith("*") && pattern.endsWith("*")))
    return `"${pattern}": "*" is allowed only as the whole value, a prefix or a suffix`;
  return undefined;
}

export function compilePattern(pattern: string, ignoreCase = false): Matcher {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const norm = ignoreCase ? (v: string) => v.toLowerCase() : (v: string) => v;
  if (p === "*") return (v) => v !== undefined && v !== "";
  if (p.endsWith("*")) {
    const pre = p.slice(0, -1);
    return (v) => v !== undefined && norm(v).startsWith(pre);
  }
  if (p.startsWith("*")) {
    const suf = p.slice(1);
    return (v) => v !== undefined && norm(v).endsWith(suf);
  }
  return (v) => v !== undefined && norm(v) === p;
}

/** Any of the patterns; an empty or absent list is "no constraint" (undefined). */
export function anyOf(patterns: readonly string[] | undefined, ignoreCase = false): Matcher | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const ms = patterns.map((p) => compilePattern(p, ignoreCase));
  return (v) => {
    for (const m of ms) if (m(v)) return true;
    return false;
  };
}
