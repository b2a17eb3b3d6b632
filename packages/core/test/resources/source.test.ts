import { describe, expect, it } from "vitest";
import { type DestinationRuleSpec, parseConfigText } from "../../src/index.js";
import { positionOf } from "../../src/resources/source.js";
import { ids, load, report, yaml } from "./helpers.js";

describe("YAML parsing", () => {
  it("reports a syntax error at the parser's position, with resource `-` and no field path", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews
       spec:
        hosts: [reviews]
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([
      {
        severity: "error",
        file: "t.yaml",
        line: 5,
        col: 1,
        resource: "-",
        path: "",
        message: "invalid YAML: All mapping items must start at the same column",
      },
    ]);
    expect(r.resources).toEqual([]);
  });

  it("reports tabs used as indentation", () => {
    const text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n\tname: reviews\n";
    expect(report(text)).toEqual(["t.yaml:4:1 -: invalid YAML: Tabs are not allowed as indentation"]);
  });

  it("reports a duplicate key at the second occurrence and drops the document whole", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata:
        name: reviews
      spec:
        hosts: [reviews]
        hosts: [ratings]
    `;
    const r = load(text);
    expect(r.diagnostics.map((d) => [d.line, d.col, d.resource, d.message])).toEqual([
      [7, 3, "-", "invalid YAML: Map keys must be unique"],
    ]);
    expect(r.resources).toEqual([]);
  });

  it("keeps reading the other documents of a file after a broken one", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec: {host: reviews, subsets: [{name: v1, labels: {version: v1}}]}
      ---
      metadata: {name: x, name: y}
      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: ratings}
      spec: {host: ratings, subsets: [{name: v1, labels: {version: v1}}]}
    `;
    const r = load(text);
    expect(report(text)).toEqual(["t.yaml:6:21 -: invalid YAML: Map keys must be unique"]);
    expect(ids(r)).toEqual(["DestinationRule/default/reviews", "DestinationRule/default/ratings"]);
  });

  it("rejects a document that is a list or a scalar, at the document's first line", () => {
    const text = yaml`
      - apiVersion: networking.istio.io/v1
        kind: VirtualService
      ---
      just a string
    `;
    expect(report(text)).toEqual([
      "t.yaml:1:1 -: a document must be a mapping with apiVersion, kind, metadata and spec",
      "t.yaml:4:1 -: a document must be a mapping with apiVersion, kind, metadata and spec",
    ]);
  });

  it("ignores empty documents and comment-only documents", () => {
    const text = yaml`
      # leading comment
      ---
      ---
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec: {host: reviews}
      ---
      # trailing comment only
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([]);
    expect(ids(r)).toEqual(["DestinationRule/default/reviews"]);
  });

  it("reports an alias to an undefined anchor at the alias", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec: {host: *nope}
    `;
    expect(report(text)).toEqual([
      "t.yaml:4:14 -: invalid YAML: Unresolved alias (the anchor must be set before the alias): nope",
    ]);
  });

  it("resolves anchors and aliases like any YAML tool", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        subsets:
        - {name: v1, labels: &v1 {version: v1}}
        - {name: prod, labels: *v1}
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([]);
    const dr = r.resources[0]!;
    expect(dr.kind).toBe("DestinationRule");
    expect((dr.spec as DestinationRuleSpec).subsets.map((s) => s.labels)).toEqual([
      { version: "v1" },
      { version: "v1" },
    ]);
  });
});

describe("YAML as Kubernetes reads it", () => {
  it("resolves `<<: *anchor` merge keys, and still checks the merged mapping's own fields", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec:
        host: reviews
        subsets:
        - name: v1
          labels: &base {app: reviews, version: v1}
        - name: v2
          labels:
            <<: *base
            version: v2
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([]);
    expect((r.resources[0]!.spec as DestinationRuleSpec).subsets.map((s) => s.labels)).toEqual([
      { app: "reviews", version: "v1" },
      { app: "reviews", version: "v2" },
    ]);
    const bad = text.replace("      version: v2", "      version: v2\n    selector: {}");
    expect(report(bad)).toEqual([
      "t.yaml:13:5 DestinationRule/default/reviews: spec.subsets[1].selector: unknown field",
    ]);
  });

  it("reads files saved with a byte-order mark and CRLF line ends, with the same positions", () => {
    const text =
      "\uFEFFapiVersion: networking.istio.io/v1\r\nkind: DestinationRule\r\nmetadata: {name: reviews}\r\nspec:\r\n  host: 7\r\n";
    expect(report(text)).toEqual([
      "t.yaml:5:3 DestinationRule/default/reviews: spec.host: must be a string, got a number",
    ]);
  });

  it("rejects an unquoted decimal label value instead of silently reading 1.10 as 1.1", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: WorkloadEntry
      metadata: {name: reviews-v1}
      spec:
        address: 10.0.0.1
        labels: {app: reviews, version: 1.10, build: 42, canary: true}
    `;
    expect(report(text)).toEqual([
      "t.yaml:6:26 WorkloadEntry/default/reviews-v1: spec.labels.version: must be a string, got the number 1.1; quote it (YAML reads an unquoted 1.10 as 1.1)",
    ]);
    const ok = load(text.replace("1.10", '"1.10"'));
    expect(ok.diagnostics).toEqual([]);
    expect(ok.resources[0]!.spec).toMatchObject({
      labels: { app: "reviews", version: "1.10", build: "42", canary: "true" },
    });
  });
});

describe("source positions", () => {
  const text = yaml`
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews}
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination: {host: reviews, subset: v1}
          weight: 80
        - {destination: {host: reviews, subset: v2}, weight: 20}
  `;
  const { resources } = parseConfigText({ file: "routes.yaml", text }, "default");
  const src = resources[0]!.source;

  it("records the key position of every mapping field and the item position of every list entry", () => {
    expect(positionOf(src, "spec.http[0].route[0].weight")).toEqual({ line: 9, col: 7 });
    expect(positionOf(src, "spec.http[0].route[1]")).toEqual({ line: 10, col: 7 });
    expect(positionOf(src, "spec.http[0].route[1].weight")).toEqual({ line: 10, col: 50 });
    expect(positionOf(src, "spec.http[0].route[1].destination.subset")).toEqual({ line: 10, col: 37 });
  });

  it("falls back to the nearest existing parent for a path with no node", () => {
    expect(positionOf(src, "spec.http[0].route[1].destination.port.number")).toEqual({ line: 10, col: 8 });
    expect(positionOf(src, "spec.gateways[0]")).toEqual({ line: 4, col: 1 });
    expect(positionOf(src, "nothing.at.all")).toEqual({ line: 1, col: 1 });
  });

  it("gives each document of a file its own start line", () => {
    const two = `${text}---\n# second\n\napiVersion: networking.istio.io/v1\nkind: Gateway\n`;
    const docs = parseConfigText({ file: "routes.yaml", text: two }, "default").resources;
    expect(docs.map((d) => [d.source.index, d.source.start])).toEqual([
      [0, { line: 1, col: 1 }],
      [1, { line: 14, col: 1 }],
    ]);
  });
});
