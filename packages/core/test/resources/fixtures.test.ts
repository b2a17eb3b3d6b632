import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatDiagnostic, loadSnapshot } from "../../src/index.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

describe("fixtures/broken", () => {
  const dir = fixture("broken");
  const expected = readFileSync(`${dir}/expected.txt`, "utf8").split("\n").filter(Boolean);
  const r = loadSnapshot([dir]);

  it("yields exactly the errors of expected.txt, in its order (paths relative to the folder)", () => {
    const got = r.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic);
    expect(got).toEqual(expected.map((l) => `${dir}/${l}`));
    expect(r.snapshot).toBeUndefined();
  });

  it("has one to three distinct errors in each of several files", () => {
    const perFile = new Map<string, Set<string>>();
    for (const line of expected) {
      const file = line.slice(0, line.indexOf(":"));
      perFile.set(file, (perFile.get(file) ?? new Set()).add(line));
    }
    expect(perFile.size).toBeGreaterThanOrEqual(5);
    for (const [, errs] of perFile) expect(errs.size).toBeGreaterThanOrEqual(1);
    for (const [, errs] of perFile) expect(errs.size).toBeLessThanOrEqual(3);
  });

  it("includes the example line of SPEC section 2", () => {
    expect(expected).toContain(
      "routes.yaml:14:9 VirtualService/default/reviews: spec.http[0].route[1].weight: must be >= 0",
    );
  });
});

describe("fixtures/valid-mixed", () => {
  const dir = fixture("valid-mixed");

  it("validates, skipping each Kubernetes kind with a warning", () => {
    const r = loadSnapshot([dir]);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(
      r.diagnostics.map((d) => `${d.file.slice(dir.length + 1)}:${d.line} ${d.resource} ${d.message}`),
    ).toEqual([
      "k8s/config.yml:2 ConfigMap/default/lanecar kind ConfigMap is not used by Lanecar; skipped",
      "k8s/reviews.yaml:3 Service/default/reviews kind Service is not used by Lanecar; skipped",
      "k8s/reviews.yaml:17 ServiceAccount/default/bookinfo-reviews kind ServiceAccount is not used by Lanecar; skipped",
      "k8s/reviews.yaml:22 Deployment/default/reviews-v1 kind Deployment is not used by Lanecar; skipped",
      "k8s/reviews.yaml:49 Deployment/default/reviews-v2 kind Deployment is not used by Lanecar; skipped",
    ]);
    expect(r.snapshot?.resources.map((x) => x.id).sort()).toEqual([
      "DestinationRule/default/reviews",
      "Gateway/default/bookinfo-gateway",
      "ServiceEntry/default/reviews",
      "TrafficLabel/default/default",
      "VirtualService/default/reviews",
      "WorkloadEntry/default/reviews-v1",
      "WorkloadEntry/default/reviews-v2",
      "WorkloadGroup/default/reviews",
    ]);
    expect(r.snapshot?.files.map((f) => f.slice(dir.length + 1))).toEqual([
      "istio/instances.yaml",
      "istio/lanes.yaml",
      "k8s/config.yml",
      "k8s/reviews.yaml",
    ]);
  });
});

describe("fixtures/bookinfo and fixtures/asm", () => {
  it("validate without errors or warnings: asm, and bookinfo with each task", () => {
    expect(loadSnapshot([fixture("asm")]).diagnostics.map(formatDiagnostic)).toEqual([]);
    const base = [fixture("bookinfo/services.yaml"), fixture("bookinfo/destination-rules.yaml")];
    for (const task of ["50-v3", "80-20", "all-v1", "all-v3", "jason-v2"]) {
      const r = loadSnapshot([...base, fixture(`bookinfo/tasks/${task}.yaml`)]);
      expect(r.diagnostics.map(formatDiagnostic)).toEqual([]);
      expect(r.snapshot).toBeDefined();
    }
  });

  it("reports each task's reviews VirtualService as a duplicate when the whole bookinfo folder is given", () => {
    const r = loadSnapshot([fixture("bookinfo")]);
    const dups = r.diagnostics
      .filter((d) => d.severity === "error")
      .map((d) => `${d.file.split("/").pop()} ${d.message}`);
    expect(dups).toEqual([
      "80-20.yaml duplicate VirtualService/default/reviews (first defined in " +
        fixture("bookinfo/tasks/50-v3.yaml") +
        ")",
      "all-v1.yaml duplicate VirtualService/default/reviews (first defined in " +
        fixture("bookinfo/tasks/50-v3.yaml") +
        ")",
      "all-v3.yaml duplicate VirtualService/default/reviews (first defined in " +
        fixture("bookinfo/tasks/50-v3.yaml") +
        ")",
      "jason-v2.yaml duplicate VirtualService/default/reviews (first defined in " +
        fixture("bookinfo/tasks/50-v3.yaml") +
        ")",
    ]);
  });
});
