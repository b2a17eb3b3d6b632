import { describe, expect, it } from "vitest";
import { LOCAL_LABEL, parseValueFrom, VALUE_FROM_FUNCTIONS } from "../../src/index.js";

describe("parseValueFrom", () => {
  it.each([
    ["$getInboundRequestHeader(x-asm-prefer-tag)", { fn: "inboundHeader", header: "x-asm-prefer-tag" }],
    ["$getInboundRequestHeader(X-ASM-Prefer-Tag)", { fn: "inboundHeader", header: "x-asm-prefer-tag" }],
    ["$getLocalOutboundRequestHeader(x-user)", { fn: "outboundHeader", header: "x-user" }],
    [
      "$getExternalInboundRequestHeader(x-request-id, x-user)",
      { fn: "externalInboundHeader", ctx: "x-request-id", header: "x-user" },
    ],
    [
      "$getExternalInboundRequestHeader(Traceparent,End-User)",
      { fn: "externalInboundHeader", ctx: "traceparent", header: "end-user" },
    ],
    ["$getContext(x-request-id)", { fn: "context", ctx: "x-request-id" }],
    ["$getContext( X-B3-TraceId )", { fn: "context", ctx: "x-b3-traceid" }],
    ["$getLabel(version)", { fn: "podLabel", label: "version" }],
    // Pod label keys keep their case (Kubernetes keys are case-sensitive) and may carry a prefix.
    ["$getLabel(app.kubernetes.io/Version)", { fn: "podLabel", label: "app.kubernetes.io/Version" }],
    ["$localLabel", { fn: "podLabel", label: LOCAL_LABEL }],
    ["$(localLabel)", { fn: "podLabel", label: LOCAL_LABEL }],
    ["  $(localLabel)  ", { fn: "podLabel", label: LOCAL_LABEL }],
    ["$getBaggage(lane)", { fn: "baggage", key: "lane" }],
  ])("%s", (text, expected) => {
    expect(parseValueFrom(text)).toEqual(expected);
  });

  it("uses ASM_TRAFFIC_TAG as the local label", () => {
    expect(LOCAL_LABEL).toBe("ASM_TRAFFIC_TAG");
  });

  it("lists every function it knows, including both local label spellings", () => {
    expect(VALUE_FROM_FUNCTIONS).toEqual(
      expect.arrayContaining([
        "$getInboundRequestHeader",
        "$getLocalOutboundRequestHeader",
        "$getExternalInboundRequestHeader",
        "$getContext",
        "$getLabel",
        "$localLabel",
        "$(localLabel)",
      ]),
    );
  });

  it.each([
    ["$getNothing(x)", /unknown valueFrom function "\$getNothing"/],
    ["$getFoo", /unknown valueFrom function "\$getFoo"/],
    ["x-asm-prefer-tag", /is not a valueFrom function call/],
    ["getContext(x-request-id)", /is not a valueFrom function call/],
    ["$getContext(x-request-id", /is not a valueFrom function call/],
    ["$getContext()", /takes 1 argument, got 0/],
    ["$getContext(a, b)", /takes 1 argument, got 2/],
    ["$getExternalInboundRequestHeader(x-request-id)", /takes 2 arguments, got 1/],
    ["$getInboundRequestHeader(bad header)", /"bad header" is not a header name/],
    ["$getInboundRequestHeader(x:y)", /"x:y" is not a header name/],
    ["$getLabel(-bad)", /"-bad" is not a pod label key/],
    ["$getExternalInboundRequestHeader(x-request-id, )", /"" is not a header name/],
  ])("rejects %s", (text, message) => {
    const r = parseValueFrom(text);
    expect(r).toHaveProperty("error");
    expect((r as { error: string }).error).toMatch(message);
  });
});
