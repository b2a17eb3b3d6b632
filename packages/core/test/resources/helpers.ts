/**
 * Helpers for config validation tests: YAML written inline with its indentation stripped (so the
 * line numbers in assertions are the lines of the literal, counted from its first line), and the
 * diagnostics of one text in their CLI text form.
 */
import {
  type Diagnostic,
  formatDiagnostic,
  type LoadOptions,
  type LoadResult,
  loadResources,
} from "../../src/index.js";

/**
 * Strips the common indentation of a template literal and its first (empty) line, so that
 * line 1 of the YAML is the line right after the opening backtick. Escapes are left alone.
 */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  // Raw strings: backslashes reach the YAML parser exactly as written, as in a file on disk.
  const raw = strings.raw.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ""), "");
  const lines = raw
    .replace(/^\n/, "")
    .replace(/\n[ ]*$/, "\n")
    .split("\n");
  const indent = Math.min(...lines.filter((l) => l.trim() !== "").map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join("\n");
}

/** Loads one text as file `file` (default `t.yaml`). */
export function load(text: string, opts: LoadOptions & { file?: string } = {}): LoadResult {
  const { file = "t.yaml", ...rest } = opts;
  return loadResources([{ file, text }], rest);
}

/** Every diagnostic of one text, formatted as `lanecar validate` prints it. */
export function report(text: string, opts: LoadOptions & { file?: string } = {}): string[] {
  return load(text, opts).diagnostics.map(formatDiagnostic);
}

export function errors(ds: readonly Diagnostic[]): string[] {
  return ds.filter((d) => d.severity === "error").map(formatDiagnostic);
}

export function warnings(ds: readonly Diagnostic[]): string[] {
  return ds.filter((d) => d.severity === "warning").map(formatDiagnostic);
}

/** Ids of the resources that passed validation. */
export function ids(r: LoadResult): string[] {
  return r.resources.map((x) => x.id);
}
