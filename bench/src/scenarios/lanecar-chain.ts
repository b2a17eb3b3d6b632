/**
 * `lanecar-chain`: gateway → sidecar inbound → upstream, two Lanecar processes, the way a request
 * enters the mesh (compare with `nginx-chain`). The gateway routes by a Gateway and a
 * VirtualService bound to it; the service's endpoint is the sidecar's inbound listener, whose
 * `--app` is the upstream.
 */
import { join } from "node:path";
import { freePort, waitHttp } from "../proc.js";
import {
  lanecarUnavailable,
  SERVICE,
  SERVICE_AUTHORITY,
  serviceEntry,
  sidecarArgs,
  sidecarPorts,
  startLanecar,
  writeConfig,
} from "./lanecar.js";
import type { Scenario } from "./types.js";

export function chainConfig(sidecarInbound: number): string[] {
  return [
    `apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: bench-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
`,
    serviceEntry(SERVICE, sidecarInbound, { app: SERVICE, version: "v1" }),
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: ${SERVICE}-edge}
spec:
  hosts: [${SERVICE}]
  gateways: [bench-gateway]
  http:
  - route:
    - destination: {host: ${SERVICE}}
`,
  ];
}

export const lanecarChain: Scenario = {
  name: "lanecar-chain",
  kind: "lanecar",
  description: "lanecar gateway → lanecar sidecar (inbound) → upstream",
  unavailable: lanecarUnavailable,
  async start(ctx) {
    const s = await sidecarPorts();
    const config = writeConfig(join(ctx.tmp, "lanecar"), chainConfig(s.inbound));
    const sidecar = await startLanecar(
      "lanecar-sidecar",
      "sidecar",
      sidecarArgs(s, config, SERVICE, "app=upstream,version=v1", ctx.upstream.url),
      ctx.lanecarEnv,
    );
    const listen = await freePort();
    let gateway: Awaited<ReturnType<typeof startLanecar>>;
    try {
      gateway = await startLanecar(
        "lanecar-gateway",
        "gateway",
        [
          "--config",
          config,
          "--gateway",
          "bench-gateway",
          "--namespace",
          "default",
          "--listen",
          `127.0.0.1:${listen}`,
        ],
        ctx.lanecarEnv,
      );
    } catch (err) {
      await sidecar.child.stop();
      throw err;
    }
    const stop = async () => void (await Promise.all([gateway.child.stop(), sidecar.child.stop()]));
    const url = `http://127.0.0.1:${listen}${ctx.path}`;
    try {
      await waitHttp([gateway.child, sidecar.child], url, { headers: { host: SERVICE_AUTHORITY } });
    } catch (err) {
      await stop();
      throw err;
    }
    return { target: { url }, pids: [gateway.child.pid, sidecar.child.pid], notes: [], stop };
  },
};
