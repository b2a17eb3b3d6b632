/**
 * `lanecar-passthrough`: the sidecar's outbound listener with a config holding only a
 * ServiceEntry for the upstream: no TrafficLabel, no VirtualService — the cost of the proxy
 * itself (parse, host lookup, cluster, pick, undici dispatch).
 */
import { join } from "node:path";
import { waitHttp } from "../proc.js";
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

export const lanecarPassthrough: Scenario = {
  name: "lanecar-passthrough",
  kind: "lanecar",
  description: "lanecar sidecar outbound, config = one ServiceEntry (no labels, no VirtualService)",
  unavailable: lanecarUnavailable,
  async start(ctx) {
    const config = writeConfig(join(ctx.tmp, "lanecar"), [
      serviceEntry(SERVICE, ctx.upstream.port, { app: SERVICE, version: "v1" }),
    ]);
    const s = await sidecarPorts();
    const p = await startLanecar(
      "lanecar-sidecar",
      "sidecar",
      sidecarArgs(s, config, SERVICE, "app=client,version=v1", ctx.upstream.url),
      ctx.lanecarEnv,
    );
    const url = `http://127.0.0.1:${s.outbound}${ctx.path}`;
    try {
      await waitHttp(p.child, url, { headers: { host: SERVICE_AUTHORITY } });
    } catch (err) {
      await p.child.stop();
      throw err;
    }
    return { target: { url }, pids: [p.child.pid], notes: [], stop: () => p.child.stop() };
  },
};
