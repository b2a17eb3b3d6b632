import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDiagnostic, listConfigFiles, loadSnapshot } from "../../src/index.js";
import { yaml } from "./helpers.js";

let root: string;

function dir(name: string, files: Record<string, string> = {}): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(d, f, ".."), { recursive: true });
    writeFileSync(join(d, f), text);
  }
  return d;
}

const lines = (r: ReturnType<typeof loadSnapshot>) => r.diagnostics.map(formatDiagnostic);

const DR = yaml`
  apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews}
  spec:
    host: reviews
    subsets: [{name: v1, labels: {version: v1}}]
`;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "lanecar-load-files-"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("reading config paths", () => {
  it("reports every error of every file at once, sorted by file, line and column", () => {
    const d = dir("several", {
      "b-routes.yaml": yaml`
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews}
        spec:
          hosts: [reviews]
          http:
          - route:
            - {destination: {host: reviews, subset: v1}, weight: -1}
            - {destination: {host: reviews, subset: v1}, weight: 1}
          - timeout: 3 s
            route: [{destination: {host: reviews, subset: v1}}]
      `,
      "a-rules.yaml": DR.replace("{version: v1}", "version"),
      "sub/c-lanes.yml": yaml`
        apiVersion: istio.alibabacloud.com/v1
        kind: TrafficLabel
        metadata: {name: lanes}
        spec:
          rules: [{labels: [{name: lane, valueFrom: [$getHeader(x-lane)]}]}]
        ---
        metadata:
          name: a: b
      `,
      "notes.txt": "not: [yaml",
    });
    const r = loadSnapshot([d]);
    expect(r.snapshot).toBeUndefined();
    expect(lines(r)).toEqual([
      `${d}/a-rules.yaml:6:24 DestinationRule/default/reviews: spec.subsets[0].labels: must be a mapping, got a string`,
      `${d}/b-routes.yaml:8:50 VirtualService/default/reviews: spec.http[0].route[0].weight: must be >= 0`,
      `${d}/b-routes.yaml:10:5 VirtualService/default/reviews: spec.http[1].timeout: "3 s" is not a duration (use e.g. "500ms", "10s", "1m")`,
      `${d}/sub/c-lanes.yml:5:46 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[0]: unknown valueFrom function "$getHeader" (known: $getInboundRequestHeader, $getLocalOutboundRequestHeader, $getExternalInboundRequestHeader, $getContext, $getLabel, $getBaggage, $localLabel, $(localLabel))`,
      `${d}/sub/c-lanes.yml:8:9 -: invalid YAML: Nested mappings are not allowed in compact mappings`,
    ]);
  });

  it("lists *.yaml and *.yml files recursively in a stable order, ignoring others", () => {
    const d = dir("listing", {
      "z.yaml": DR,
      "a/b.yml": DR,
      "a/README.md": "# not config",
      "UPPER.YAML": DR,
      "m.json": "{}",
    });
    expect(listConfigFiles([d])).toEqual({
      files: [join(d, "UPPER.YAML"), join(d, "a/b.yml"), join(d, "z.yaml")],
      diagnostics: [],
    });
  });

  it("reads a file named twice (directory and file) once", () => {
    const d = dir("twice", { "rules.yaml": DR });
    const r = loadSnapshot([d, join(d, "rules.yaml"), `${d}/./rules.yaml`]);
    expect(lines(r)).toEqual([]);
    expect(r.snapshot?.files).toEqual([join(d, "rules.yaml")]);
  });

  it("reports an empty directory, and one with no YAML file, as clear errors", () => {
    const empty = dir("empty");
    const other = dir("no-yaml", { "deploy.json": "{}" });
    const r = loadSnapshot([empty, other]);
    expect(r.snapshot).toBeUndefined();
    expect(lines(r)).toEqual([
      `${empty}:1:1 -: directory holds no *.yaml or *.yml file`,
      `${other}:1:1 -: directory holds no *.yaml or *.yml file`,
    ]);
  });

  it("reports a missing path and a path through a file, with the reason and the code", () => {
    const d = dir("missing", { "rules.yaml": DR });
    const r = loadSnapshot([join(d, "nope.yaml"), join(d, "rules.yaml", "x.yaml")]);
    expect(r.snapshot).toBeUndefined();
    expect(lines(r)).toEqual([
      `${d}/nope.yaml:1:1 -: cannot read: no such file or directory (ENOENT)`,
      `${d}/rules.yaml/x.yaml:1:1 -: cannot read: a path component is not a directory (ENOTDIR)`,
    ]);
  });

  it("reports an unreadable file (dangling symlink) and still validates the others", () => {
    const d = dir("unreadable", {
      "good.yaml": DR,
      "bad.yaml": DR.replace("host: reviews", "host: [reviews]"),
    });
    symlinkSync(join(d, "gone.yaml"), join(d, "link.yaml"));
    const r = loadSnapshot([d]);
    expect(r.snapshot).toBeUndefined();
    expect(lines(r)).toEqual([
      `${d}/bad.yaml:5:3 DestinationRule/default/reviews: spec.host: must be a string, got a list`,
      `${d}/link.yaml:1:1 -: cannot read: no such file or directory (ENOENT)`,
    ]);
  });

  it("reports that no path was given", () => {
    expect(lines(loadSnapshot([]))).toEqual(["-:1:1 -: no config path given"]);
  });

  it("never throws for bad input", () => {
    expect(() => loadSnapshot(["/dev/null/x", "\0bad"])).not.toThrow();
  });
});

describe("loadSnapshot", () => {
  it("builds a snapshot from a valid directory, keeping warnings, with namespace defaulting", () => {
    const d = dir("valid", {
      "rules.yaml": DR,
      "deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1}\n",
    });
    const r = loadSnapshot([d], { namespace: "bookinfo" });
    expect(lines(r)).toEqual([
      `${d}/deploy.yaml:2:1 Deployment/bookinfo/reviews-v1: kind: warning: kind Deployment is not used by Lanecar; skipped`,
    ]);
    expect(r.snapshot?.resources.map((x) => x.id)).toEqual(["DestinationRule/bookinfo/reviews"]);
    expect(r.snapshot?.files).toEqual([join(d, "deploy.yaml"), join(d, "rules.yaml")]);
    expect(r.snapshot?.warnings).toHaveLength(1);
  });

  it("gives the same version to the same texts and another to changed texts", () => {
    const d = dir("version", { "rules.yaml": DR });
    const v1 = loadSnapshot([d]).snapshot!.version;
    expect(loadSnapshot([d]).snapshot!.version).toBe(v1);
    writeFileSync(join(d, "rules.yaml"), `${DR}# changed\n`);
    expect(loadSnapshot([d]).snapshot!.version).not.toBe(v1);
  });
});
