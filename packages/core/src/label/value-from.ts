/**
 * `valueFrom` entries of a TrafficLabel: `$fn(arg, arg)` texts parsed into `ValueSource`s.
 *
 * | text                                          | source                                        |
 * | --------------------------------------------- | --------------------------------------------- |
 * | `$getInboundRequestHeader(h)`                 | header h of the inbound request               |
 * | `$getLocalOutboundRequestHeader(h)`           | header h of the app's outbound request        |
 * | `$getExternalInboundRequestHeader(ctx, h)`    | header h of the inbound request correlated by ctx |
 * | `$getContext(ctx)`                            | label resolved on the correlated inbound request |
 * | `$getLabel(l)`                                | this pod's label l                            |
 * | `$localLabel`, `$(localLabel)`                | this pod's label ASM_TRAFFIC_TAG              |
 * | `$getBaggage(key)` (Lanecar extension)        | W3C baggage member `key` of the request itself |
 */
import type { ValueSource } from "../resources/types.js";

export const LOCAL_LABEL = "ASM_TRAFFIC_TAG";

const HEADER = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LABEL_KEY =
  /^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const BAGGAGE_KEY = HEADER;

interface FnSpec {
  arity: number;
  make(args: string[]): ValueSource;
  argPattern: RegExp;
  argWhat: string;
}

const FUNCTIONS: Record<string, FnSpec> = {
  getInboundRequestHeader: {
    arity: 1,
    argPattern: HEADER,
    argWhat: "a header name",
    make: ([h]) => ({ fn: "inboundHeader", header: h!.toLowerCase() }),
  },
  getLocalOutboundRequestHeader: {
    arity: 1,
    argPattern: HEADER,
    argWhat: "a header name",
    make: ([h]) => ({ fn: "outboundHeader", header: h!.toLowerCase() }),
  },
  getExternalInboundRequestHeader: {
    arity: 2,
    argPattern: HEADER,
    argWhat: "a header name",
    make: ([ctx, h]) => ({ fn: "externalInboundHeader", ctx: ctx!.toLowerCase(), header: h!.toLowerCase() }),
  },
  getContext: {
    arity: 1,
    argPattern: HEADER,
    argWhat: "a header name",
    make: ([ctx]) => ({ fn: "context", ctx: ctx!.toLowerCase() }),
  },
  getLabel: {
    arity: 1,
    argPattern: LABEL_KEY,
    argWhat: "a pod label key",
    make: ([l]) => ({ fn: "podLabel", label: l! }),
  },
  getBaggage: {
    arity: 1,
    argPattern: BAGGAGE_KEY,
    argWhat: "a baggage key",
    make: ([k]) => ({ fn: "baggage", key: k! }),
  },
};

export const VALUE_FROM_FUNCTIONS = [
  ...Object.keys(FUNCTIONS).map((f) => `$${f}`),
  "$localLabel",
  "$(localLabel)",
];

/** Parses one `valueFrom` text; returns the source or a message saying what is wrong. */
export function parseValueFrom(text: string): ValueSource | { error: string } {
  const t = text.trim();
  if (t === "$localLabel" || t === "$(localLabel)") return { fn: "podLabel", label: LOCAL_LABEL };
  const m = /^\$([A-Za-z]+)\s*\((.*)\)$/.exec(t);
  if (!m) {
    if (/^\$[A-Za-z]+$/.test(t))
      return { error: `unknown valueFrom function "${t}" (known: ${VALUE_FROM_FUNCTIONS.join(", ")})` };
    return {
      error: `"${t}" is not a valueFrom function call such as $getInboundRequestHeader(x-asm-prefer-tag)`,
    };
  }
  const name = m[1]!;
  const spec = FUNCTIONS[name];
  if (!spec)
    return { error: `unknown valueFrom function "$${name}" (known: ${VALUE_FROM_FUNCTIONS.join(", ")})` };
  const args = m[2]!.trim() === "" ? [] : m[2]!.split(",").map((a) => a.trim());
  if (args.length !== spec.arity) {
    return { error: `$${name} takes ${spec.arity} argument${spec.arity > 1 ? "s" : ""}, got ${args.length}` };
  }
  for (const a of args) {
    if (!spec.argPattern.test(a)) return { error: `$${name}: "${a}" is not ${spec.argWhat}` };
  }
  return spec.make(args);
}
