/**
 * Diagnostics: every config problem Lanecar reports, with where it is and what is wrong.
 * The text form is the contract of SPEC section 2:
 *   `file:line:col Kind/namespace/name: field.path: message`
 */

export type Severity = "error" | "warning";

export interface Diagnostic {
  severity: Severity;
  file: string;
  line: number;
  col: number;
  /** `Kind/namespace/name`, or `-` when the problem is not inside one resource (YAML syntax, I/O). */
  resource: string;
  /** Field path such as `spec.http[0].route[1].weight`; empty for whole-document problems. */
  path: string;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}`;
  const prefix = d.severity === "warning" ? "warning: " : "";
  return d.path
    ? `${where} ${d.resource}: ${d.path}: ${prefix}${d.message}`
    : `${where} ${d.resource}: ${prefix}${d.message}`;
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === "error");
}

/** Stable sort: by file, then line, then column, keeping report order for ties. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds
    .map((d, i) => ({ d, i }))
    .sort((a, b) =>
      a.d.file < b.d.file
        ? -1
        : a.d.file > b.d.file
          ? 1
          : a.d.line - b.d.line || a.d.col - b.d.col || a.i - b.i,
    )
    .map((x) => x.d);
}

/** Error thrown by config-loading entry points when input cannot be used at all. */
export class ConfigError extends Error {
  readonly code = "LANECAR_CONFIG_INVALID";
  constructor(readonly diagnostics: Diagnostic[]) {
    super(
      diagnostics
        .filter((d) => d.severity === "error")
        .map(formatDiagnostic)
        .join("\n"),
    );
    this.name = "ConfigError";
  }
}
