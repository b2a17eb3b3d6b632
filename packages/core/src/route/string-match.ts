/**
 * StringMatch compiled once per snapshot into a plain predicate. Regexes must match the whole
 * value (Istio/RE2 semantics), so they are anchored here.
 */
import type { StringMatch } from "../resources/types.js";

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
    case "regex": {
      const re = new RegExp(`^(?:${m.value})$`, ignoreCase ? "i" : "");
      return (s) => re.test(s);
    }
  }
}
