/**
 * StringMatch compiled once per snapshot into a plain predicate. Regexes are RE2 and must match
 * the whole value (Envoy's `safe_regex` full match).
 */
import type { StringMatch } from "../resources/types.js";
import { fullMatch } from "./re2.js";

export type ValuePredicate = (value: string) => boolean;

export function compileStringMatch(m: StringMatch, ignoreCase = false): ValuePredicate {
  switch (m.kind) {
    case "present":
      return () => true;
    case "exact": {
      if (ignoreCase) {
        const v = m.value.toLowerCase();
        return (s) => s.length === v.length && s.toLowerCase() === v;
      }
      const v = m.value;
      return (s) => s === v;
    }
    case "prefix": {
      if (ignoreCase) {
        const v = m.value.toLowerCase();
        return (s) => s.length >= v.length && s.slice(0, v.length).toLowerCase() === v;
      }
      const v = m.value;
      return (s) => s.startsWith(v);
    }
    case "regex":
      return fullMatch(m.value, ignoreCase);
  }
}
