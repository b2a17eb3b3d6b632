import { describe, expect, it } from "vitest";
import {
  ConfigError,
  type Diagnostic,
  formatDiagnostic,
  hasErrors,
  sortDiagnostics,
} from "../../src/index.js";

function d(over: Partial<Diagnostic>): Diagnostic {
  return {
    severity: "error",
    file: "routes.yaml",
    line: 14,
    col: 9,
    resource: "VirtualService/default/reviews",
    path: "spec.http[0].route[1].weight",
    message: "must be >= 0",
    ...over,
  };
}

describe("diagnostics", () => {
  it("formats the SPEC example exactly", () => {
    expect(formatDiagnostic(d({}))).toBe(
      "routes.yaml:14:9 VirtualService/default/reviews: spec.http[0].route[1].weight: must be >= 0",
    );
  });

  it("omits an empty path and marks warnings after the path", () => {
    expect(
      formatDiagnostic(d({ resource: "-", path: "", message: "invalid YAML: x", line: 2, col: 1 })),
    ).toBe("routes.yaml:2:1 -: invalid YAML: x");
    expect(formatDiagnostic(d({ severity: "warning", path: "kind", message: "skipped" }))).toBe(
      "routes.yaml:14:9 VirtualService/default/reviews: kind: warning: skipped",
    );
    expect(formatDiagnostic(d({ severity: "warning", path: "", message: "skipped" }))).toBe(
      "routes.yaml:14:9 VirtualService/default/reviews: warning: skipped",
    );
  });

  it("sorts by file, then line, then column, keeping report order for ties", () => {
    const input = [
      d({ file: "b.yaml", line: 1, col: 1, message: "b1" }),
      d({ file: "a.yaml", line: 10, col: 1, message: "a10" }),
      d({ file: "a.yaml", line: 2, col: 7, message: "a2:7" }),
      d({ file: "a.yaml", line: 2, col: 3, message: "a2:3 first" }),
      d({ file: "a.yaml", line: 2, col: 3, message: "a2:3 second" }),
    ];
    expect(sortDiagnostics(input).map((x) => x.message)).toEqual([
      "a2:3 first",
      "a2:3 second",
      "a2:7",
      "a10",
      "b1",
    ]);
  });

  it("counts only errors as failures", () => {
    expect(hasErrors([d({ severity: "warning" })])).toBe(false);
    expect(hasErrors([d({ severity: "warning" }), d({})])).toBe(true);
    expect(hasErrors([])).toBe(false);
  });

  it("puts one formatted line per error in a ConfigError's message, with a stable code", () => {
    const e = new ConfigError([
      d({}),
      d({ severity: "warning", message: "w" }),
      d({ line: 20, message: "other" }),
    ]);
    expect(e.code).toBe("LANECAR_CONFIG_INVALID");
    expect(e.message.split("\n")).toEqual([
      "routes.yaml:14:9 VirtualService/default/reviews: spec.http[0].route[1].weight: must be >= 0",
      "routes.yaml:20:9 VirtualService/default/reviews: spec.http[0].route[1].weight: other",
    ]);
    expect(e.diagnostics).toHaveLength(3);
  });
});
