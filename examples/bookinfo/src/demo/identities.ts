/**
 * The demo's workload identities: a fresh root (`lanecar ca init`) and one certificate per
 * instance and for the gateway (`lanecar ca issue`), written where `--identity-dir` reads them.
 * Every instance gets its own key, as every pod does in Istio; the instances of one service share
 * its service account (`bookinfo-reviews`), as Istio's bookinfo.yaml has it. Issued in-process
 * with node:crypto (a few milliseconds each), so mutual TLS does not slow the demo's start.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { initCa, issueWorkload } from "@lanecar/proxy";
import { GATEWAY, INSTANCES, NAMESPACE, serviceAccountOf, TRUST_DOMAIN } from "../topology.js";

/** How long the demo's certificates live (a demo runs for hours, not days). */
const TTL_MS = 24 * 3600 * 1000;

export interface DemoIdentities {
  /** The CA folder (`root-cert.pem`, `root-key.pem`). */
  caDir: string;
  /** Identity folder of each instance, by instance name (`reviews-v2`). */
  instances: ReadonlyMap<string, string>;
  /** Identity folder of the gateway. */
  gateway: string;
  /** SPIFFE IDs issued, by folder name (instances and `gateway`). */
  spiffeIds: ReadonlyMap<string, string>;
}

/**
 * Replaces whatever `dir` held with a new root and every identity of the demo under it:
 * `dir/ca`, `dir/<instance>`, `dir/gateway`. A restarted demo never trusts an old root.
 */
export function issueDemoIdentities(dir: string): DemoIdentities {
  rmSync(dir, { recursive: true, force: true });
  const caDir = join(dir, "ca");
  initCa(caDir, TRUST_DOMAIN);
  const instances = new Map<string, string>();
  const spiffeIds = new Map<string, string>();
  for (const i of INSTANCES) {
    const out = join(dir, i.name);
    const id = issueWorkload(caDir, out, {
      namespace: NAMESPACE,
      serviceAccount: serviceAccountOf(i.service),
      ttlMs: TTL_MS,
    });
    instances.set(i.name, out);
    spiffeIds.set(i.name, id);
  }
  const gateway = join(dir, "gateway");
  spiffeIds.set("gateway", issueWorkload(caDir, gateway, { ...GATEWAY.identity, ttlMs: TTL_MS }));
  return { caDir, instances, gateway, spiffeIds };
}
