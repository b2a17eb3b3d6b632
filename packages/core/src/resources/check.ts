/**
 * A small typed reader for raw YAML values that records every problem it meets as a diagnostic
 * at the field's source position, and returns `undefined` (or an empty default) so validation
 * can go on and report all errors at once.
 */
import type { Diagnostic, Severity } from "../diagnostics.js";
import { re2Error } from "../route/re2.js";
import { parseDuration } from "./duration.js";
import { joinPath, positionOf, type RawResource } from "./source.js";

export type Obj = Record<string, unknown>;

/** `Kind/namespace/name`; placeholders keep the three parts when kind or name is missing. */
export function resourceId(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind || "<no-kind>"}/${r.namespace}/${r.name || "<unnamed>"}`;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `a ${typeof v}`;
}

export class Check {
  readonly id: string;
  constructor(
    readonly res: RawResource,
    private readonly out: Diagnostic[],
  ) {
    this.id = resourceId(res);
  }

  report(severity: Severity, path: string, message: string): void {
    const at = positionOf(this.res.source, path);
    this.out.push({
      severity,
      file: this.res.source.file,
      line: at.line,
      col: at.col,
      resource: this.id,
      path,
      message,
    });
  }

  error(path: string, message: string): void {
    this.report("error", path, message);
  }

  warn(path: string, message: string): void {
    this.report("warning", path, message);
  }

  /** Flags fields that are neither known nor known-but-ignored. */
  fields(o: Obj, path: string, known: readonly string[], ignored: readonly string[] = []): void {
    for (const k of Object.keys(o)) {
      if (known.includes(k)) continue;
      if (ignored.includes(k)) this.warn(joinPath(path, k), "not supported by Lanecar; ignored");
      else this.error(joinPath(path, k), "unknown field");
    }
  }

  obj(v: unknown, path: string, required = false): Obj | undefined {
    if (v === undefined || v === null) {
      if (required) this.error(path, "is required");
      return undefined;
    }
    if (typeof v !== "object" || Array.isArray(v)) {
      this.error(path, `must be a mapping, got ${typeName(v)}`);
      return undefined;
    }
    return v as Obj;
  }

  list(v: unknown, path: string, required = false): unknown[] {
    if (v === undefined || v === null) {
      if (required) this.error(path, "is required");
      return [];
    }
    if (!Array.isArray(v)) {
      this.error(path, `must be a list, got ${typeName(v)}`);
      return [];
    }
    return v;
  }

  str(v: unknown, path: string, required = false): string | undefined {
    if (v === undefined || v === null) {
      if (required) this.error(path, "is required");
      return undefined;
    }
    if (typeof v !== "string") {
      this.error(path, `must be a string, got ${typeName(v)}`);
      return undefined;
    }
    if (required && v === "") {
      this.error(path, "must not be empty");
      return undefined;
    }
    return v;
  }

  strList(v: unknown, path: string, required = false): string[] {
    const out: string[] = [];
    const items = this.list(v, path, required);
    if (required && Array.isArray(v) && v.length === 0) this.error(path, "must not be empty");
    items.forEach((item, i) => {
      const s = this.str(item, joinPath(path, i), true);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  strMap(v: unknown, path: string): Record<string, string> | undefined {
    const o = this.obj(v, path);
    if (!o) return undefined;
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      if (typeof val === "string" || typeof val === "boolean" || Number.isInteger(val)) out[k] = String(val);
      else if (typeof val === "number") {
        // `version: 1.10` is the number 1.1 to YAML: converting it back would silently change the value.
        this.error(
          joinPath(path, k),
          `must be a string, got the number ${val}; quote it (YAML reads an unquoted 1.10 as 1.1)`,
        );
      } else this.error(joinPath(path, k), `must be a string, got ${typeName(val)}`);
    }
    return out;
  }

  int(
    v: unknown,
    path: string,
    opts: { required?: boolean; min?: number; max?: number } = {},
  ): number | undefined {
    if (v === undefined || v === null) {
      if (opts.required) this.error(path, "is required");
      return undefined;
    }
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.error(path, `must be an integer, got ${typeName(v)}${typeof v === "number" ? ` ${v}` : ""}`);
      return undefined;
    }
    if (opts.min !== undefined && v < opts.min) {
      this.error(path, `must be >= ${opts.min}`);
      return undefined;
    }
    if (opts.max !== undefined && v > opts.max) {
      this.error(path, `must be <= ${opts.max}`);
      return undefined;
    }
    return v;
  }

  num(v: unknown, path: string, opts: { min?: number; max?: number } = {}): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || Number.isNaN(v)) {
      this.error(path, `must be a number, got ${typeName(v)}`);
      return undefined;
    }
    if (opts.min !== undefined && v < opts.min) {
      this.error(path, `must be >= ${opts.min}`);
      return undefined;
    }
    if (opts.max !== undefined && v > opts.max) {
      this.error(path, `must be <= ${opts.max}`);
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      this.error(path, `must be true or false, got ${typeName(v)}`);
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[], required = false): T | undefined {
    const s = this.str(v, path, required);
    if (s === undefined) return undefined;
    if (!(values as readonly string[]).includes(s)) {
      this.error(path, `must be one of ${values.join(", ")}; got "${s}"`);
      return undefined;
    }
    return s as T;
  }

  /** A duration (`10s`, `250ms`, `1m`) in milliseconds; `minMs` enforces Istio's lower bounds. */
  duration(v: unknown, path: string, minMs = 0): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") {
      this.error(path, `must be a duration such as "10s", got ${typeName(v)}`);
      return undefined;
    }
    const ms = parseDuration(v);
    if (ms === undefined) {
      this.error(path, `"${v}" is not a duration (use e.g. "500ms", "10s", "1m")`);
      return undefined;
    }
    if (ms < minMs) {
      this.error(path, `must be >= ${minMs}ms`);
      return undefined;
    }
    return ms;
  }

  /** A regular expression as Istio/Envoy read it: RE2 syntax, which refuses lookaround and backreferences. */
  regex(v: string, path: string): boolean {
    const reason = re2Error(v);
    if (reason === undefined) return true;
    this.error(path, `regex does not compile (RE2): ${reason}`);
    return false;
  }
}

/** RFC 7230 token: what an HTTP header name may be. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A service host: a DNS name, optionally with a leading `*.` wildcard (what Istio accepts). */
export const SERVICE_HOST =
  /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** Header values Lanecar will ever add: no CR, LF or NUL. */
export const SAFE_HEADER_VALUE = /^[^\r\n\0]*$/;
