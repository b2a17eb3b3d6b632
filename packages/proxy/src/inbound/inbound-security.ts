/**
 * What the security kinds mean for this sidecar's inbound side, compiled once per config
 * snapshot (core does the semantics; this binds them to the workload):
 *
 * - the mutual-TLS mode of the app's port from PeerAuthentication (Istio's precedence, core
 *   `mtlsModeFor`); where none applies, `--mtls-mode` (default PERMISSIVE, as Istio);
 * - the AuthorizationPolicies of this workload (core `Authorizer`).
 *
 * A STRICT mode without `--identity-dir` cannot be served (Istio always has certificates): it
 * fails closed — every inbound connection is refused — and says so once per config version.
 */
import { Authorizer, type ConfigSnapshot, type MtlsMode, mtlsModeFor } from "@lanecar/core";
import type { MeshTls } from "../identity/mesh-tls.js";
import type { ProxyRuntime } from "../runtime.js";

export interface InboundSecurityPlan {
  readonly mode: MtlsMode;
  /** `namespace/name` of the PeerAuthentication that set the mode; null: `--mtls-mode` / default. */
  readonly modePolicy: string | null;
  readonly authorizer: Authorizer;
  /** STRICT without an identity: refuse everything rather than serve plaintext. */
  readonly failClosed: boolean;
}

export class InboundSecurity {
  private readonly plans = new WeakMap<ConfigSnapshot, InboundSecurityPlan>();

  constructor(
    private readonly rt: ProxyRuntime,
    /** The workload port policies name: the app's port (`--app`). */
    readonly port: number,
    private readonly mesh: MeshTls | undefined,
    private readonly warn: (line: string) => void,
  ) {
    // Compiled (and warned about) when a config is applied, not on the first request after it.
    this.plan(rt.config.current);
    rt.config.on("reload", (snap: ConfigSnapshot) => void this.plan(snap));
    if (mesh) mesh.inboundMode = this.mode;
  }

  /** The mode for a new connection under the current config. */
  readonly mode = (): MtlsMode => this.plan(this.rt.config.current).mode;

  plan(snap: ConfigSnapshot): InboundSecurityPlan {
    let p = this.plans.get(snap);
    if (p === undefined) {
      p = this.compile(snap);
      this.plans.set(snap, p);
    }
    return p;
  }

  private compile(snap: ConfigSnapshot): InboundSecurityPlan {
    const id = this.rt.identity;
    const workload = { namespace: id.namespace, labels: id.podLabels };
    const d = mtlsModeFor(snap.peerAuthentications, workload, this.port);
    const mode = d.policy === null ? (this.mesh?.mode ?? "PERMISSIVE") : d.mode;
    const failClosed = mode === "STRICT" && this.mesh === undefined;
    if (failClosed)
      this.warn(
        `PeerAuthentication ${d.policy ?? "(default)"} makes inbound port ${this.port} STRICT but no --identity-dir is given: every inbound connection is refused (config ${snap.version})`,
      );
    return {
      mode,
      modePolicy: d.policy,
      authorizer: new Authorizer(snap.authorizationPolicies, workload),
      failClosed,
    };
  }
}
