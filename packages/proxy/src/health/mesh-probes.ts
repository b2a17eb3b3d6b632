/**
 * Probes to mutual-TLS endpoints: which endpoints a process reaches with ISTIO_MUTUAL (the
 * service's DestinationRule, port level included), recomputed per config snapshot, and a ProbeFn
 * that sends their probes over mTLS with the workload identity. Envoy's active health checks use
 * the cluster's transport socket the same way; without it a STRICT PeerAuthentication on the
 * callee refuses the (plaintext) probe and every instance of the mesh looks down.
 *
 * A subset's own `tls` does not change how an endpoint is probed: one endpoint, one probe.
 */
import type { ConfigSnapshot, Endpoint, Probe } from "@lanecar/core";
import type { MeshTls } from "../identity/mesh-tls.js";
import { mtlsFor } from "../upstream/pools.js";
import type { ProbeFn } from "./active-prober.js";
import { type ProbeOutcome, sendProbe } from "./probe-request.js";

/** Keys of the endpoints whose service (at that port) asks for ISTIO_MUTUAL. */
export function mutualTlsEndpoints(snap: ConfigSnapshot): Set<string> {
  const keys = new Set<string>();
  const reg = snap.registry;
  for (const svc of reg.allServices()) {
    for (const sp of svc.ports) {
      const c = reg.cluster(svc.host, sp.number, undefined);
      if (c && mtlsFor(c.policy)) for (const ep of c.endpoints) keys.add(ep.key);
    }
  }
  return keys;
}

export class MeshProbes {
  private mtls = new Set<string>();

  constructor(private readonly mesh: MeshTls | undefined) {}

  update(snap: ConfigSnapshot): void {
    this.mtls = mutualTlsEndpoints(snap);
  }

  /** The ActiveProber's `send`: mTLS to ISTIO_MUTUAL endpoints (the current identity), else as before. */
  readonly send: ProbeFn = (ep: Endpoint, probe: Probe, done: (o: ProbeOutcome) => void) => {
    const mesh = this.mesh;
    if (!mesh || !this.mtls.has(ep.key)) return sendProbe(ep, probe, done);
    return sendProbe(ep, probe, done, { secureContext: mesh.context, checkServerIdentity: mesh.checkPeer });
  };
}
