/**
 * Optional tracing (issue 3): with the standard OTEL_* variables set, every hop a Lanecar process
 * serves becomes one span, a child of the trace the request arrived with, carrying the lane, the
 * subset it was routed to and the fallback taken. The console exporter writes the spans to
 * stdout, which is what this test reads.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mesh } from "../support/mesh.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

/** The console exporter prints each span as an object literal (of one trace, if given). */
function spansOf(stdout: string, traceId?: string): string[] {
  return stdout
    .split(/\n(?=\{)/)
    .filter((s) => s.includes("traceId:") && (traceId === undefined || s.includes(`traceId: '${traceId}'`)));
}

function attr(span: string, name: string): string | undefined {
  return new RegExp(`'${name.replace(/\./g, "\\.")}': '([^']*)'`).exec(span)?.[1];
}

describe("tracing with OTEL_TRACES_EXPORTER=console", () => {
  const mesh = new Mesh({
    instances: [
      { service: "a", lane: "prod", calls: ["b:9080"] },
      { service: "b", lane: "prod", calls: ["c:9080"] },
      { service: "c", lane: "prod" },
      { service: "c", lane: "gray" },
    ],
    env: {
      OTEL_TRACES_EXPORTER: "console",
      OTEL_BSP_SCHEDULE_DELAY: "50",
      OTEL_SERVICE_NAME: "lanecar-test",
    },
  });
  beforeAll(() => mesh.start(), 60_000);
  afterAll(() => mesh.stop());

  it("writes one span per hop, in the caller's trace, with lane, subset and fallback", async () => {
    const r = await fetch(`http://127.0.0.1:${mesh.gatewayPort}/`, {
      headers: { "x-asm-prefer-tag": "gray", traceparent: `00-${TRACE_ID}-${PARENT}-01` },
    });
    expect(r.status, await r.text()).toBe(200);
    const b = mesh.find("b", "prod");
    const gatewayOut = () => spansOf(mesh.gateway!.stdout(), TRACE_ID);
    // The test apps forward only x-request-id, so b's hops start traces of their own.
    const bOut = () => spansOf(b.sidecar!.stdout());
    const until = Date.now() + 5000;
    while ((gatewayOut().length === 0 || bOut().length < 2) && Date.now() < until)
      await new Promise((res) => setTimeout(res, 50));

    // The gateway: the edge hop to a, which has no gray instance: prod by fallback.
    const [edge] = gatewayOut();
    expect(edge, mesh.gateway!.stdout()).toBeDefined();
    expect(edge).toContain(`parentSpanContext`);
    expect(edge).toContain(`spanId: '${PARENT}'`);
    expect(attr(edge!, "lanecar.lane")).toBe("gray");
    expect(attr(edge!, "lanecar.subset")).toBe("prod");
    expect(attr(edge!, "lanecar.fallback")).toBe("noinstances");

    // b's sidecar: the inbound hop (lane gray arrived) and the outbound hop to c (gray exists).
    const spans = bOut();
    const inbound = spans.find((s) => attr(s, "lanecar.listener") === "inbound");
    const outbound = spans.find((s) => attr(s, "lanecar.listener") === "outbound");
    expect(inbound, spans.join("\n---\n")).toBeDefined();
    expect(attr(inbound!, "lanecar.lane")).toBe("gray");
    expect(outbound, spans.join("\n---\n")).toBeDefined();
    expect(attr(outbound!, "lanecar.lane")).toBe("gray");
    expect(attr(outbound!, "lanecar.subset")).toBe("gray");
    expect(attr(outbound!, "lanecar.fallback")).toBe("none");
  });

  it("is off without OTEL_TRACES_EXPORTER: the other tests' sidecars print no span", async () => {
    const plain = new Mesh({ instances: [{ service: "a", lane: "prod" }] });
    await plain.start();
    try {
      const r = await fetch(`http://127.0.0.1:${plain.gatewayPort}/`, {
        headers: { traceparent: `00-${TRACE_ID}-${PARENT}-01` },
      });
      expect(r.status).toBe(200);
      await new Promise((res) => setTimeout(res, 300));
      expect(spansOf(plain.gateway!.stdout())).toEqual([]);
      expect(spansOf(plain.instances[0]!.sidecar!.stdout())).toEqual([]);
    } finally {
      await plain.stop();
    }
  });
});
