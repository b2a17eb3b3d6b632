/**
 * `lanecar-lanes`: the full lane path of the ASM walkthrough, on the sidecar's outbound listener.
 *
 * TrafficLabel `trafficLabel` from `$getContext(x-request-id)`, then
 * `$getLocalOutboundRequestHeader(x-asm-prefer-tag)`, then `$(localLabel)`; the VirtualService
 * routes to `subset: $trafficLabel` with a fallback to `prod`; a DestinationRule cuts the lanes.
 * Before each load phase the run's x-request-ids (the ids every scenario's load cycles through) are
 * sent through the sidecar's inbound with label `gray`, so every outbound request of the load hits
 * the correlation store; asked to, the upstream echoes the label the sidecar attached, and the
 * start checks it came back `gray`. Metrics are on (the
 * admin listener serves them) and the correlation counters are noted after the load.
 */
import { join } from "node:path";
import { type HttpResult, httpGet, waitHttp } from "../proc.js";
import { ECHO_HEADER, LANE_HEADER } from "../upstream.js";
import {
  lanecarUnavailable,
  metricNotes,
  SERVICE,
  SERVICE_AUTHORITY,
  serviceEntry,
  sidecarArgs,
  sidecarPorts,
  startLanecar,
  writeConfig,
} from "./lanecar.js";
import type { Scenario } from "./types.js";

export interface LaneConfigOptions {
  /**
   * Mutual TLS between sidecars: the DestinationRule says ISTIO_MUTUAL and the endpoints carry
   * their workload's service account (the identity the peer must present).
   */
  mtlsServiceAccount?: string;
}

/**
 * The lane config. `endpointPort` is where both lanes' endpoints listen (the upstream itself, or
 * the server sidecar's inbound in the mTLS scenario); `sidecarInbound` is the client sidecar's.
 */
export function laneConfig(
  endpointPort: number,
  sidecarInbound: number,
  o: LaneConfigOptions = {},
): string[] {
  const sa = o.mtlsServiceAccount;
  return [
    `apiVersion: istio.alibabacloud.com/v1beta1
kind: TrafficLabel
metadata: {name: lanes}
spec:
  rules:
  - labels:
    - name: trafficLabel
      valueFrom:
      - $getContext(x-request-id)
      - $getLocalOutboundRequestHeader(x-asm-prefer-tag)
      - $(localLabel)
    attachTo: [opentracing]
    protocols: "*"
`,
    // One upstream process stands for both lanes: a gray endpoint and a prod endpoint (the
    // fallback target, also what the readiness check without a label reaches).
    serviceEntry(SERVICE, endpointPort, { app: SERVICE, version: "v2", ASM_TRAFFIC_TAG: "gray" }, sa).replace(
      /( {2}endpoints:\n.*\n)/,
      `$1  - {address: 127.0.0.1, ports: {http: ${endpointPort}}, labels: {app: ${SERVICE}, version: v1, ASM_TRAFFIC_TAG: prod}${sa ? `, serviceAccount: ${sa}` : ""}}\n`,
    ),
    serviceEntry("productpage", sidecarInbound, {
      app: "productpage",
      version: "v1",
      ASM_TRAFFIC_TAG: "prod",
    }),
    `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: ${SERVICE}}
spec:
  host: ${SERVICE}
${sa ? "  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n" : ""}  subsets:
  - {name: gray, labels: {version: v2}}
  - {name: prod, labels: {version: v1}}
`,
    `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: ${SERVICE}}
spec:
  hosts: [${SERVICE}]
  http:
  - route:
    - destination: {host: ${SERVICE}, subset: $trafficLabel}
      weight: 100
      fallback:
        case: noinstances|noavailabled
        target: {host: ${SERVICE}, subset: prod}
`,
  ];
}

export const lanecarLanes = lanesScenario(
  "lanecar-lanes",
  "lanecar sidecar outbound, full lane path: $getContext(x-request-id) correlation hit → subset $label → fallback chain, metrics on",
  {},
);

/** The same lane path on the public-API fallback data path (node:http + undici). */
export const lanecarLanesFallback = lanesScenario(
  "lanecar-lanes-fallback",
  "lanecar-lanes on the fallback data path (LANECAR_DATA_PATH=node: node:http server + undici pools)",
  { LANECAR_DATA_PATH: "node" },
);

/** One GET with headers (plaintext, or mutual TLS towards a STRICT inbound). */
export type Get = (url: string, headers: Record<string, string>) => Promise<HttpResult>;

/**
 * Sends the run's x-request-ids through a sidecar's inbound labelled gray, so the sidecar records
 * them (the load cycles through the same ids, so every outbound request is a correlation hit).
 */
export async function seedLanes(inbound: string, ids: readonly string[], get: Get): Promise<void> {
  for (let i = 0; i < ids.length; i += 32) {
    await Promise.all(
      ids.slice(i, i + 32).map(async (id) => {
        const r = await get(inbound, { "x-request-id": id, [LANE_HEADER]: "gray" });
        if (r.status !== 200)
          throw new Error(`seeding through the inbound listener: HTTP ${r.status} ${r.body.slice(0, 200)}`);
      }),
    );
  }
}

/** Asks the upstream (through `url`) which label a correlated request arrived with; a report note. */
export async function laneCheck(url: string, id: string): Promise<string> {
  const probe = await httpGet(url, { host: SERVICE_AUTHORITY, "x-request-id": id, [ECHO_HEADER]: "1" });
  const lane = probe.headers["x-bench-lane"];
  return probe.status === 200 && lane === "gray"
    ? "lane check: correlated request reached the upstream labelled gray"
    : `LANE CHECK FAILED: HTTP ${probe.status}, upstream saw ${LANE_HEADER}=${lane ?? "(none)"} (want gray)`;
}

function lanesScenario(name: string, description: string, env: Record<string, string>): Scenario {
  return {
    name,
    kind: "lanecar",
    description,
    unavailable: lanecarUnavailable,
    async start(ctx) {
      const s = await sidecarPorts();
      const config = writeConfig(join(ctx.tmp, "lanecar"), laneConfig(ctx.upstream.port, s.inbound));
      const podLabels = "app=productpage,version=v1,ASM_TRAFFIC_TAG=prod";
      const p = await startLanecar(
        "lanecar-sidecar",
        "sidecar",
        sidecarArgs(s, config, "productpage", podLabels, ctx.upstream.url),
        { ...ctx.lanecarEnv, ...env },
      );
      const inbound = `http://127.0.0.1:${s.inbound}${ctx.path}`;
      const url = `http://127.0.0.1:${s.outbound}${ctx.path}`;

      const seed = () => seedLanes(inbound, ctx.requestIds, httpGet);
      const notes: string[] = [];
      try {
        await waitHttp(p.child, url, { headers: { host: SERVICE_AUTHORITY } });
        await seed();
        notes.push(await laneCheck(url, ctx.requestIds[0]!));
      } catch (err) {
        await p.child.stop();
        const e = err as Error;
        // Readiness errors carry the child's output already; seeding errors need it.
        throw e.message.includes("\n") ? e : new Error(`${e.message}\n${p.child.output()}`);
      }
      return {
        target: { url },
        pids: [p.child.pid],
        notes,
        prepare: seed,
        inspect: () =>
          metricNotes(p.admin, ["lanecar_correlation_lookups_total", "lanecar_correlation_entries"]),
        stop: () => p.child.stop(),
      };
    },
  };
}
