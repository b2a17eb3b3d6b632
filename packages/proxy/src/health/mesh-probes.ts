/**
 * Probes to mutual-TLS endpoints: which endpoints a process reaches with ISTIO_MUTUAL (its TLS
 * plan for the service's cluster: the DestinationRule, port level included, or auto mTLS),
 * recomputed per config snapshot, and a ProbeFn that sends their probes over that mTLS — the
 * workload identity and the plan's peer check (the endpoint's service account). Envoy's active
 * health checks use the cluster's transport socket the same way; without it a STRICT
 * PeerAuthentication on the callee refuses the (plaintext) probe and every instance of the mesh
 * looks down.
 *
 * A subset's own `tls` does not change how an endpoint is probed: one endpoint, one probe. TLS
 * origination (SIMPLE/MUTUAL to external services) is not applied to probes.
 */
import type { ConfigSnapshot, Endpoint, Probe } from "@lanecar/core";
import type { UpstreamTls } from "../h1/client.js";
import type { TlsPlans } from "../upstream/tls-plan.js";
import type { ProbeFn } from "./active-prober.js";
import { type ProbeOutcome, sendProbe } from "./probe-request.js";

/** The mutual-TLS settings of every endpoint reached with ISTIO_MUTUAL, by endpoint key. */
export function mutualTlsEndpoints(snap: ConfigSnapshot, plans: TlsPlans): Map<string, UpstreamTls> {
  const out = new Map<string, UpstreamTls>();
  const reg = snap.registry;
  for (const svc of reg.allServices()) {
    for (const sp of svc.ports) {
      const c = reg.cluster(svc.host, sp.number, undefined);
      for (const ep of c?.endpoints ?? []) {
        const plan = plans.of(ep, c);
        if (plan.mode === "ISTIO_MUTUAL" && plan.tls && !out.has(ep.key)) out.set(ep.key, plan.tls);
      }
    }
  }
  return out;
}

export class MeshProbes {
  private mtls = new Map<string, UpstreamTls>();

  /** `plans`: the process's TLS plans (UpstreamPools.plans); none: every probe is plaintext. */
  constructor(private readonly plans: TlsPlans | undefined) {}

  update(snap: ConfigSnapshot): void {
    if (this.plans) this.mtls = mutualTlsEndpoints(snap, this.plans);
  }

  /** The ActiveProber's `send`: mTLS to ISTIO_MUTUAL endpoints (the current identity), else as before. */
  readonly send: ProbeFn = (ep: Endpoint, probe: Probe, done: (o: ProbeOutcome) => void) => {
    const t = this.mtls.get(ep.key);
    if (!t) return sendProbe(ep, probe, done);
    return sendProbe(ep, probe, done, {
      secureContext: t.context(),
      checkServerIdentity: t.checkPeer,
      ...(t.servername ? { servername: t.servername } : {}),
    });
  };
}
