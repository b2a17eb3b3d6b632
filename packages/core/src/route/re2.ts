/**
 * Regular expressions with RE2 semantics, as Istio and Envoy evaluate them (`safe_regex`): the
 * syntax RE2 accepts and nothing more (no lookaround, no backreferences), `(?i)` and the other
 * inline flags, linear-time matching whatever the input. Backed by re2js, a pure JavaScript port
 * of RE2 chosen by measurement (see docs/decisions.md): no native build, no WebAssembly start-up,
 * and the fastest of the RE2 engines on short route values.
 *
 * Patterns are compiled once, when a snapshot is built; the request path only calls `test`.
 */
import { RE2JS } from "re2js";

export type Re2 = RE2JS;

/** Why RE2 refuses `pattern`, or undefined when it compiles. */
export function re2Error(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (err) {
    // re2js says "error parsing regexp: <reason>", as RE2 does; keep the reason only.
    return (err as Error).message.replace(/^error parsing regexp: /, "");
  }
}

/** Compiles `pattern` (throws on a pattern RE2 refuses: validation has already reported it). */
export function compileRe2(pattern: string, ignoreCase = false): Re2 {
  return RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
}

/** Printable ASCII with no RE2 metacharacter: such a pattern matches exactly itself. */
const PLAIN = /^[\x20-\x7e]*$/;
const META = /[\\.+*?()|[\]{}^$]/;
const ASCII = /^[^\u0080-\uffff]*$/;

/**
 * A predicate that is true when the whole value matches (Envoy's full match). Patterns that are
 * plain text (`jason`, `(?i)jason`, the common header matches) compare strings instead of running
 * the automaton, with RE2's exact semantics: `(?i)` folds only ASCII here, and a value with any
 * non-ASCII character (where RE2 also folds, e.g. U+212A KELVIN SIGN to k) goes to RE2.
 */
export function fullMatch(pattern: string, ignoreCase = false): (value: string) => boolean {
  const re = compileRe2(pattern, ignoreCase);
  const folded = pattern.startsWith("(?i)") && !ignoreCase;
  const text = folded ? pattern.slice(4) : pattern;
  if (!ignoreCase && PLAIN.test(text) && !META.test(text)) {
    if (!folded) return (value) => value === text;
    const lower = text.toLowerCase();
    return (value) =>
      ASCII.test(value)
        ? value.length === lower.length && value.toLowerCase() === lower
        : re.testExact(value);
  }
  return (value) => re.testExact(value);
}

/**
 * RE2 rewrite syntax (`\1`, `\0` for the whole match, `\\` for a backslash) → the replacement
 * syntax re2js expands (ECMAScript's: `$1`, `$&`, `$$`).
 */
export function re2Replacement(rewrite: string): string {
  let out = "";
  for (let i = 0; i < rewrite.length; i++) {
    const ch = rewrite[i]!;
    if (ch === "$") out += "$$";
    else if (ch === "\\" && i + 1 < rewrite.length) {
      const next = rewrite[i + 1]!;
      if (next >= "0" && next <= "9") out += next === "0" ? "$&" : `$${next}`;
      else out += next === "$" ? "$$" : next;
      i++;
    } else out += ch;
  }
  return out;
}

/** A compiled global replace: every non-overlapping match of `pattern` → `rewrite` (RE2 syntax). */
export interface Re2Rewrite {
  readonly re: Re2;
  readonly replacement: string;
}

export function compileRewrite(pattern: string, rewrite: string): Re2Rewrite {
  return { re: compileRe2(pattern), replacement: re2Replacement(rewrite) };
}

export function replaceAll(rw: Re2Rewrite, input: string): string {
  return rw.re.matcher(input).replaceAll(rw.replacement);
}
