/** `direct`: the load generator talks to the upstream itself — the floor every proxy adds to. */
import type { Scenario } from "./types.js";

export const direct: Scenario = {
  name: "direct",
  kind: "baseline",
  description: "autocannon → upstream, no proxy (the reference for added latency)",
  unavailable: () => undefined,
  async start(ctx) {
    return { target: { url: `${ctx.upstream.url}${ctx.path}` }, pids: [], notes: [], stop: async () => {} };
  },
};
