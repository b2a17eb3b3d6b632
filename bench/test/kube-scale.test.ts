/**
 * The discovery scale bench at a small size, so it keeps working: every figure is measured, a
 * pod turning ready gets traffic, and the snapshot really came from the API fake.
 */
import { describe, expect, it } from "vitest";
import { run } from "../src/kube-scale.js";

describe("bench:kube at a small size", () => {
  it("measures list+build, rebuilds, decisions, the sidecar and pod ready → traffic", async () => {
    const f = await run({ services: 5, pods: 20 }, 50);
    expect(f.snapshot.registry.allServices()).toHaveLength(5);
    expect(f.snapshot.registry.hasService("svc-4.default.svc.cluster.local")).toBe(true);
    for (const k of [
      "sourceStartMs",
      "configRebuildMs",
      "endpointSwapMs",
      "sidecarReadyMs",
      "sidecarRssMB",
      "podReadyToTrafficMs",
      "requestMeanUs",
    ] as const) {
      expect(f[k], k).toBeGreaterThan(0);
    }
    // Generous: from the EndpointSlice update to a response from the new pod.
    expect(f.podReadyToTrafficMs).toBeLessThan(5000);
  }, 120_000);
});
