/**
 * The process-mode config of one instance: a WorkloadEntry at its sidecar's inbound port and a
 * WorkloadGroup whose probe goes through that sidecar to the app. `config/process/*.yaml` are
 * this function's output for the default port plan (a test keeps them equal); the demo runner
 * writes the same files for another port plan (tests run on free ports so they never collide
 * with a demo that is already running).
 */
import type { Instance, Ports } from "../topology.js";

/** Probe timing of every instance: two failures two seconds apart mark an instance down. */
export const PROBE = {
  periodSeconds: 2,
  timeoutSeconds: 1,
  failureThreshold: 2,
  successThreshold: 1,
} as const;

export function instanceConfigYaml(i: Instance, ports: Ports = i.ports, host = "127.0.0.1"): string {
  return `# ${i.name}: ${i.service} ${i.version} in lane ${i.lane} (${i.summary}), run as local processes.
# app ${host}:${ports.app} · sidecar inbound ${host}:${ports.inbound} (this endpoint) · outbound ${host}:${ports.outbound} · admin ${host}:${ports.admin}
# The probe goes through the sidecar inbound to the app: if either is down, the instance is unavailable.
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: { name: ${i.name} }
spec:
  address: ${host}
  ports: { http: ${ports.inbound} }
  labels: { app: ${i.service}, version: ${i.version}, ASM_TRAFFIC_TAG: ${i.lane} }
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadGroup
metadata: { name: ${i.name} }
spec:
  metadata:
    labels: { app: ${i.service}, version: ${i.version} }
  probe:
    httpGet: { path: /health, port: ${ports.inbound} }
    periodSeconds: ${PROBE.periodSeconds}
    timeoutSeconds: ${PROBE.timeoutSeconds}
    failureThreshold: ${PROBE.failureThreshold}
    successThreshold: ${PROBE.successThreshold}
`;
}
