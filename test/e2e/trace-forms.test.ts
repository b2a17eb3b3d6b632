/**
 * Issue 12, item 9: correlation by trace id works whichever trace form the app forwards. A real
 * sidecar process receives an inbound request carrying `traceparent` and the lane; the app's
 * outbound call carries the same trace id only as a single `b3` header, only as a 64-bit or
 * 128-bit `x-b3-traceid`, or as `traceparent` — each finds the inbound record and goes to the lane.
 */
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { laneSubsets, type Started, serviceEntry, startSidecarProcess } from "../hardening/support/proxy.js";
import { type RecordingUpstream, startRecordingUpstream } from "../hardening/support/recording-upstream.js";

const LABEL = "x-asm-prefer-tag";
const agent = new Agent({ connections: 2 });

/** A lane label read from the correlation store by trace id (`traceparent` is the context). */
const TRACE_LABEL = `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules:
  - labels:
    - name: ${LABEL}
      valueFrom:
      - $getInboundRequestHeader(${LABEL})
      - $getContext(traceparent)
      - $localLabel`;

async function send(port: number, host: string, headers: Record<string, string>): Promise<number> {
  const r = await request(`http://127.0.0.1:${port}/x`, { headers: { host, ...headers }, dispatcher: agent });
  await r.body.text();
  return r.statusCode;
}

let seq = 0;
/** A fresh 64-bit trace id (so every case has its own record). */
function id64(): string {
  seq++;
  return `${(0xa3ce0000 + seq).toString(16)}0e0e4736`;
}

describe("the lane follows the trace id whichever form the app forwards (issue 12 item 9)", () => {
  let app: RecordingUpstream;
  let prod: RecordingUpstream;
  let gray: RecordingUpstream;
  let sc: Started;

  beforeAll(async () => {
    [app, prod, gray] = await Promise.all([
      startRecordingUpstream("echo"),
      startRecordingUpstream("echo"),
      startRecordingUpstream("echo"),
    ]);
    sc = await startSidecarProcess({
      appPort: app.port,
      yaml: [
        TRACE_LABEL,
        serviceEntry("b", [
          { port: prod.port, labels: { ASM_TRAFFIC_TAG: "prod" } },
          { port: gray.port, labels: { ASM_TRAFFIC_TAG: "gray" } },
        ]),
        laneSubsets("b"),
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - route:
    - destination: {host: b, subset: $${LABEL}}
      fallback: {case: noinstances|noavailabled, target: {host: b, subset: prod}}`,
      ],
    });
  });
  afterAll(async () => {
    await sc?.stop();
    await Promise.all([app?.close(), prod?.close(), gray?.close()]);
  });

  /** Inbound with traceparent (128-bit id = the 64-bit one left-padded) and the gray lane. */
  async function inbound(id: string): Promise<void> {
    const wide = id.padStart(32, "0");
    expect(await send(sc.port, "a", { [LABEL]: "gray", traceparent: `00-${wide}-00f067aa0ba902b7-01` })).toBe(
      200,
    );
  }

  async function outboundLane(headers: Record<string, string>): Promise<"gray" | "prod"> {
    const g = gray.requests.length;
    const p = prod.requests.length;
    expect(await send(sc.outbound, "b:9080", headers)).toBe(200);
    if (gray.requests.length === g + 1 && prod.requests.length === p) return "gray";
    if (prod.requests.length === p + 1 && gray.requests.length === g) return "prod";
    throw new Error("the outbound request reached neither or both lanes");
  }

  it.each([
    ["a single b3 header with the 64-bit id", (id: string) => ({ b3: `${id}-e457b5a2e4d86bd1-1` })],
    [
      "a single b3 header with the 128-bit id",
      (id: string) => ({ b3: `${id.padStart(32, "0")}-e457b5a2e4d86bd1` }),
    ],
    [
      "x-b3-traceid with the 64-bit id",
      (id: string) => ({ "x-b3-traceid": id, "x-b3-spanid": "e457b5a2e4d86bd1" }),
    ],
    ["x-b3-traceid with the 128-bit id", (id: string) => ({ "x-b3-traceid": id.padStart(32, "0") })],
    ["traceparent", (id: string) => ({ traceparent: `00-${id.padStart(32, "0")}-1111111111111111-01` })],
  ])("inbound traceparent, outbound %s: the same lane", async (_form, outboundHeaders) => {
    const id = id64();
    await inbound(id);
    expect(await outboundLane(outboundHeaders(id))).toBe("gray");
  });

  it("an outbound b3 of another trace finds nothing: the pod's own lane (prod)", async () => {
    await inbound(id64());
    expect(await outboundLane({ b3: `${id64()}-e457b5a2e4d86bd1-1` })).toBe("prod");
  });

  it("inbound single b3, outbound traceparent: the same lane", async () => {
    const id = id64();
    expect(await send(sc.port, "a", { [LABEL]: "gray", b3: `${id}-00f067aa0ba902b7-1` })).toBe(200);
    expect(await outboundLane({ traceparent: `00-${id.padStart(32, "0")}-1111111111111111-01` })).toBe(
      "gray",
    );
  });
});
