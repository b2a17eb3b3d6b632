import { describe, expect, it } from "vitest";
import { load, report, yaml } from "./helpers.js";

describe("TrafficLabel", () => {
  it("accepts the ASM walkthrough's TrafficLabel and normalizes label names to lower case", () => {
    const text = yaml`
      apiVersion: istio.alibabacloud.com/v1beta1
      kind: TrafficLabel
      metadata: {name: example-trafficlabel}
      spec:
        workloadSelector:
          labels: {app: productpage}
        rules:
        - labels:
          - name: trafficLabel
            valueFrom:
            - $getContext(x-request-id)
            - $(localLabel)
            - $getExternalInboundRequestHeader(x-request-id, x-asm-prefer-tag)
          attachTo: [opentracing]
          protocols: "*"
    `;
    const r = load(text);
    expect(r.diagnostics).toEqual([]);
    const tl = r.resources[0]!;
    expect(tl.kind).toBe("TrafficLabel");
    expect(tl.spec).toEqual({
      workloadSelector: { app: "productpage" },
      rules: [
        {
          labels: [
            {
              name: "trafficlabel",
              raw: [
                "$getContext(x-request-id)",
                "$(localLabel)",
                "$getExternalInboundRequestHeader(x-request-id, x-asm-prefer-tag)",
              ],
              valueFrom: [
                { fn: "context", ctx: "x-request-id" },
                { fn: "podLabel", label: "ASM_TRAFFIC_TAG" },
                { fn: "externalInboundHeader", ctx: "x-request-id", header: "x-asm-prefer-tag" },
              ],
            },
          ],
          attachTo: ["opentracing"],
          protocols: "*",
        },
      ],
    });
  });

  it("reports an unknown valueFrom function, listing the known ones", () => {
    const text = yaml`
      apiVersion: istio.alibabacloud.com/v1
      kind: TrafficLabel
      metadata: {name: lanes}
      spec:
        rules:
        - labels:
          - name: x-asm-prefer-tag
            valueFrom:
            - $getCookie(lane)
            - $localLane
    `;
    const known =
      "$getInboundRequestHeader, $getLocalOutboundRequestHeader, $getExternalInboundRequestHeader, $getContext, $getLabel, $getBaggage, $localLabel, $(localLabel)";
    expect(report(text)).toEqual([
      `t.yaml:9:9 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[0]: unknown valueFrom function "$getCookie" (known: ${known})`,
      `t.yaml:10:9 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[1]: unknown valueFrom function "$localLane" (known: ${known})`,
    ]);
  });

  it("reports the wrong number of arguments and a text that is not a call", () => {
    const text = yaml`
      apiVersion: istio.alibabacloud.com/v1
      kind: TrafficLabel
      metadata: {name: lanes}
      spec:
        rules:
        - labels:
          - name: x-asm-prefer-tag
            valueFrom:
            - $getInboundRequestHeader()
            - $getInboundRequestHeader(x-asm-prefer-tag, x-request-id)
            - $getExternalInboundRequestHeader(x-asm-prefer-tag)
            - getLabel(app)
    `;
    expect(report(text)).toEqual([
      "t.yaml:9:9 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[0]: $getInboundRequestHeader takes 1 argument, got 0",
      "t.yaml:10:9 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[1]: $getInboundRequestHeader takes 1 argument, got 2",
      "t.yaml:11:9 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[2]: $getExternalInboundRequestHeader takes 2 arguments, got 1",
      't.yaml:12:9 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[3]: "getLabel(app)" is not a valueFrom function call such as $getInboundRequestHeader(x-asm-prefer-tag)',
    ]);
  });

  it("reports an argument that is not a header name", () => {
    const text = yaml`
      apiVersion: istio.alibabacloud.com/v1
      kind: TrafficLabel
      metadata: {name: lanes}
      spec:
        rules:
        - labels:
          - name: x-asm-prefer-tag
            valueFrom: ["$getInboundRequestHeader(x asm)"]
    `;
    expect(report(text)).toEqual([
      't.yaml:8:19 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom[0]: $getInboundRequestHeader: "x asm" is not a header name',
    ]);
  });

  it("rejects label names that are not valid header names, and a label defined twice", () => {
    const text = yaml`
      apiVersion: istio.alibabacloud.com/v1
      kind: TrafficLabel
      metadata: {name: lanes}
      spec:
        rules:
        - labels:
          - name: "lane tag"
            valueFrom: [$localLabel]
          - name: "x-lane:"
            valueFrom: [$localLabel]
          - name: x-asm-prefer-tag
            valueFrom: [$localLabel]
        - labels:
          - name: X-ASM-Prefer-Tag
            valueFrom: [$localLabel]
    `;
    expect(report(text)).toEqual([
      't.yaml:7:7 TrafficLabel/default/lanes: spec.rules[0].labels[0].name: "lane tag" is not a valid header name',
      't.yaml:9:7 TrafficLabel/default/lanes: spec.rules[0].labels[1].name: "x-lane:" is not a valid header name',
      't.yaml:14:7 TrafficLabel/default/lanes: spec.rules[1].labels[0].name: label "X-ASM-Prefer-Tag" is defined twice',
    ]);
  });

  it("requires rules, labels and valueFrom", () => {
    const text = yaml`
      apiVersion: istio.alibabacloud.com/v1
      kind: TrafficLabel
      metadata: {name: lanes}
      spec:
        rules:
        - labels:
          - name: x-asm-prefer-tag
            valueFrom: []
        - attachTo: [opentracing]
      ---
      apiVersion: istio.alibabacloud.com/v1
      kind: TrafficLabel
      metadata: {name: empty}
      spec: {workloadSelector: {labels: {app: reviews}}}
    `;
    expect(report(text)).toEqual([
      "t.yaml:8:7 TrafficLabel/default/lanes: spec.rules[0].labels[0].valueFrom: must not be empty",
      "t.yaml:9:5 TrafficLabel/default/lanes: spec.rules[1].labels: is required",
      "t.yaml:14:1 TrafficLabel/default/empty: spec.rules: is required",
    ]);
  });

  it("warns about an unknown carrier and an ignored field, but keeps the resource", () => {
    const text = yaml`
      apiVersion: istio.alibabacloud.com/v1
      kind: TrafficLabel
      metadata: {name: lanes}
      spec:
        hosts: [reviews]
        rules:
        - labels: [{name: x-asm-prefer-tag, valueFrom: [$localLabel]}]
          attachTo: [opentracing, zipkin]
    `;
    const r = load(text);
    expect(r.diagnostics.map((d) => `${d.severity} ${d.line}:${d.col} ${d.path}: ${d.message}`)).toEqual([
      "warning 5:3 spec.hosts: not supported by Lanecar; ignored",
      'warning 8:29 spec.rules[0].attachTo[1]: unknown carrier "zipkin" (known: opentracing)',
    ]);
    expect(r.resources.map((x) => x.id)).toEqual(["TrafficLabel/default/lanes"]);
  });
});
