/**
 * Two in-process sidecars over mutual TLS, for the identity tests: the config that routes
 * `HOST` to one inbound with ISTIO_MUTUAL, and a sidecar with a STRICT inbound in front of an app.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProxyProcess } from "../../src/process/proxy-process.js";
import { startSidecar } from "../../src/process/sidecar.js";

export const HOST = "upstream.default.svc.cluster.local";
const quiet = { info: () => {}, error: () => {} };

/** A config folder under `parent`: ServiceEntry `HOST` → 127.0.0.1:`port`, DestinationRule ISTIO_MUTUAL. */
export function istioMutualConfig(parent: string, port: number): string {
  const cfg = mkdtempSync(join(parent, "cfg-"));
  writeFileSync(
    join(cfg, "config.yaml"),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: upstream, namespace: default }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, ports: { http: ${port} } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: upstream, namespace: default }
spec:
  host: ${HOST}
  trafficPolicy:
    tls: { mode: ISTIO_MUTUAL }
`,
  );
  return cfg;
}

/** A sidecar for `service` in namespace default; STRICT inbound with `identityDir`, plaintext without. */
export function meshSidecar(
  service: string,
  cfg: string,
  appPort: number,
  identityDir: string | undefined,
): Promise<ProxyProcess> {
  return startSidecar({
    config: [cfg],
    service,
    namespace: "default",
    podLabels: { app: service },
    inbound: "127.0.0.1:0",
    outbound: "127.0.0.1:0",
    app: `http://127.0.0.1:${appPort}`,
    admin: undefined,
    logger: quiet,
    mtls: identityDir
      ? { identityDir, trustDomain: "cluster.local", mode: "STRICT", pollMs: 1000 }
      : undefined,
  });
}
