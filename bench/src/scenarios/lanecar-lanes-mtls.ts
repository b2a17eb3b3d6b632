/**
 * `lanecar-lanes-mtls`: the lane path of `lanecar-lanes` with mutual TLS between two sidecars —
 * client → sidecar A outbound (the same TrafficLabel, VirtualService and DestinationRule lanes,
 * now `ISTIO_MUTUAL`) → TLS → sidecar B inbound (`--mtls-mode STRICT`) → upstream. Both sidecars
 * run with `--identity-dir` (identities from Lanecar's CA, service accounts `productpage` and
 * `upstream`) and the same mesh config; the endpoints name service account `upstream`. The
 * upstream pools keep their TLS connections alive, so the load pays for TLS records, not
 * handshakes (the report notes how many connections B accepted). Its native twin is `nginx-ssl`.
 *
 * `lanecar-lanes-chain` is the same pair without identities (twin: `nginx-chain`): the
 * difference between the two is what the TLS hop costs.
 *
 * A's inbound is STRICT too, so the harness seeds the correlation store over mutual TLS with an
 * identity of its own (kept-alive connections); the lane check then asks the upstream, through
 * A, the TLS hop and B, which label arrived. At start, B is probed with and without a client
 * certificate (the protocol and cipher go in the report beside nginx-ssl's).
 */
import { join } from "node:path";
import { httpGet, waitHttp } from "../proc.js";
import {
  type LanecarProcess,
  lanecarUnavailable,
  metricNotes,
  SERVICE,
  SERVICE_AUTHORITY,
  sidecarArgs,
  sidecarPorts,
  startLanecar,
  writeConfig,
} from "./lanecar.js";
import { laneCheck, laneConfig, seedLanes } from "./lanecar-lanes.js";
import { clientPem, lanecarIdentity, mtlsAgent, mtlsGet, newRoot, tlsProbe } from "./mesh-certs.js";
import type { BenchContext, Running, Scenario } from "./types.js";

const SERVER_SA = SERVICE;

/**
 * How many connections sidecar B's inbound accepted over TLS since it started (from
 * `/config_dump`): with pooled connections reused, a handful per start, not one per request.
 */
async function acceptedNote(admin: string): Promise<string> {
  try {
    const r = await httpGet(`${admin}/config_dump`);
    const c = (JSON.parse(r.body) as { workloadCertificate?: { accepted?: Record<string, number> } })
      .workloadCertificate?.accepted;
    return c
      ? `sidecar B inbound connections since start: ${c.tls} TLS (handshakes), ${c.plaintext} plaintext, ${c.refused} refused`
      : "sidecar B /config_dump has no workloadCertificate.accepted";
  } catch (err) {
    return `sidecar B /config_dump: ${(err as Error).message}`;
  }
}

export const lanecarLanesMtls = twoSidecarLanes(
  "lanecar-lanes-mtls",
  "lanecar-lanes with mutual TLS between two sidecars: sidecar A outbound (lane path, ISTIO_MUTUAL) → TLS → sidecar B inbound (STRICT) → upstream",
  true,
);

/** The same two sidecars and config without identities: what the TLS hop costs (twin: nginx-chain). */
export const lanecarLanesChain = twoSidecarLanes(
  "lanecar-lanes-chain",
  "lanecar-lanes-mtls without TLS: sidecar A outbound (lane path) → plaintext → sidecar B inbound → upstream",
  false,
);

function twoSidecarLanes(name: string, description: string, mtls: boolean): Scenario {
  return {
    name,
    kind: "lanecar",
    description,
    unavailable: lanecarUnavailable,
    start: (ctx) => startPair(ctx, mtls),
  };
}

async function startPair(ctx: BenchContext, mtls: boolean): Promise<Running> {
  const [a, b] = [await sidecarPorts(), await sidecarPorts()];
  const ca = mtls ? newRoot(ctx.tmp) : "";
  const identity = (sa: string) => (mtls ? lanecarIdentity(ca, ctx.tmp, sa) : "");
  const [idA, idB, idHarness] = [identity("productpage"), identity(SERVER_SA), identity("bench-client")];
  const mtlsArgs = (dir: string) => (mtls ? ["--identity-dir", dir, "--mtls-mode", "STRICT"] : []);
  const config = writeConfig(
    join(ctx.tmp, "lanecar"),
    laneConfig(b.inbound, a.inbound, mtls ? { mtlsServiceAccount: SERVER_SA } : {}),
  );
  const started = await Promise.allSettled([
    startLanecar(
      "lanecar-sidecar-a",
      "sidecar",
      [
        ...sidecarArgs(
          a,
          config,
          "productpage",
          "app=productpage,version=v1,ASM_TRAFFIC_TAG=prod",
          ctx.upstream.url,
        ),
        ...mtlsArgs(idA),
      ],
      ctx.lanecarEnv,
    ),
    startLanecar(
      "lanecar-sidecar-b",
      "sidecar",
      [
        ...sidecarArgs(b, config, SERVICE, "app=upstream,version=v2,ASM_TRAFFIC_TAG=gray", ctx.upstream.url),
        ...mtlsArgs(idB),
      ],
      ctx.lanecarEnv,
    ),
  ]);
  const procs = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const agent = mtls ? mtlsAgent(idHarness) : undefined;
  const stop = async () => {
    agent?.destroy();
    await Promise.all(procs.map((p) => p.child.stop()));
  };
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const [pa, pb] = procs as [LanecarProcess, LanecarProcess];
  const inbound = `${mtls ? "https" : "http"}://127.0.0.1:${a.inbound}${ctx.path}`;
  const url = `http://127.0.0.1:${a.outbound}${ctx.path}`;
  const seed = () => seedLanes(inbound, ctx.requestIds, agent ? (u, h) => mtlsGet(u, agent, h) : httpGet);
  const notes: string[] = [];
  try {
    await waitHttp([pa.child, pb.child], url, { headers: { host: SERVICE_AUTHORITY } });
    if (mtls) {
      // STRICT means what it says: a plaintext request to A's inbound gets no answer.
      const plain = await httpGet(`http://127.0.0.1:${a.inbound}${ctx.path}`).then(
        (r) => `HTTP ${r.status}`,
        () => "refused",
      );
      notes.push(`sidecar A inbound (STRICT), plaintext request: ${plain}`);
      notes.push(`sidecar B, client with a certificate: ${await tlsProbe(b.inbound, clientPem(idHarness))}`);
      notes.push(`sidecar B, client without one: ${await tlsProbe(b.inbound)}`);
    }
    await seed();
    notes.push(await laneCheck(url, ctx.requestIds[0]!));
  } catch (err) {
    await stop();
    const e = err as Error;
    throw e.message.includes("\n")
      ? e
      : new Error(`${e.message}\n${pa.child.output()}\n${pb.child.output()}`);
  }
  return {
    target: { url },
    pids: [pa.child.pid, pb.child.pid],
    notes,
    prepare: seed,
    inspect: async () => [
      ...(await metricNotes(pa.admin, ["lanecar_correlation_lookups_total"])),
      ...(mtls ? [await acceptedNote(pb.admin)] : []),
    ],
    stop,
  };
}
