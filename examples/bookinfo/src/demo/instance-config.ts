/**
 * Where an instance is, in Istio terms: a WorkloadEntry (address, port, the pod's labels) and a
 * WorkloadGroup whose probe goes to that same address and port. `serviceAccount` names the
 * identity its mutual-TLS certificate must carry (`bookinfo-<service>`, as Istio's bookinfo.yaml);
 * callers check it. `config/process/*.yaml` are
 * `instanceConfigYaml`'s output for the default port plan (a test keeps them equal); the demo
 * runner writes the same for free ports, and the pod-mode test for pod IPs.
 */
import { type Instance, type Ports, podLabels, serviceAccountOf } from "../topology.js";

/** Probe timing of every instance: two failures two seconds apart mark an instance down. */
export const PROBE = {
  periodSeconds: 2,
  timeoutSeconds: 1,
  failureThreshold: 2,
  successThreshold: 1,
} as const;

function flow(o: Readonly<Record<string, string>>): string {
  return `{ ${Object.entries(o)
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ")} }`;
}

/** The WorkloadEntry and WorkloadGroup of an instance reached at `address:port`, after `comment` lines. */
export function workloadYaml(i: Instance, address: string, port: number, comment: readonly string[]): string {
  return `${comment.map((l) => `# ${l}\n`).join("")}apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: ${i.name} }
spec:
  address: ${address}
  ports: { http: ${port} }
  labels: ${flow(podLabels(i))}
  serviceAccount: ${serviceAccountOf(i.service)}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadGroup
metadata: { name: ${i.name} }
spec:
  metadata:
    labels: ${flow({ app: i.service, version: i.version })}
  probe:
    httpGet: { path: /health, port: ${port} }
    periodSeconds: ${PROBE.periodSeconds}
    timeoutSeconds: ${PROBE.timeoutSeconds}
    failureThreshold: ${PROBE.failureThreshold}
    successThreshold: ${PROBE.successThreshold}
`;
}

/** Process mode: the endpoint is the sidecar's inbound port on 127.0.0.1. */
export function instanceConfigYaml(i: Instance, ports: Ports = i.ports): string {
  const h = "127.0.0.1";
  return workloadYaml(i, h, ports.inbound, [
    `${i.name}: ${i.service} ${i.version} in lane ${i.lane} (${i.summary}), run as local processes.`,
    `app ${h}:${ports.app} · sidecar inbound ${h}:${ports.inbound} (this endpoint) · outbound ${h}:${ports.outbound} · admin ${h}:${ports.admin}`,
    "The probe goes through the sidecar inbound to the app: if either is down, the instance is unavailable.",
  ]);
}
