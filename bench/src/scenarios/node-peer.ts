/**
 * Node proxies people use instead of a sidecar, each in its own process (bench/src/peers/*.ts)
 * so its CPU time and RSS are measured apart from the load generator.
 */
import { distScript } from "../paths.js";
import { startChild, waitHttp, waitListening } from "../proc.js";
import type { Scenario } from "./types.js";

function nodePeer(name: string, script: string, description: string): Scenario {
  return {
    name,
    kind: "node",
    description,
    unavailable: () => {
      try {
        distScript(script);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
    async start(ctx) {
      const child = startChild(
        name,
        process.execPath,
        [distScript(script), "--port", "0", "--target", ctx.upstream.url],
        {
          env: { NODE_ENV: "production" },
        },
      );
      try {
        const port = await waitListening(child);
        const url = `http://127.0.0.1:${port}${ctx.path}`;
        await waitHttp(child, url);
        return { target: { url }, pids: [child.pid], notes: [], stop: () => child.stop() };
      } catch (err) {
        await child.stop();
        throw err;
      }
    },
  };
}

export const fastifyHttpProxy = nodePeer(
  "fastify-http-proxy",
  "peers/fastify-http-proxy.js",
  "fastify 5 + @fastify/http-proxy 11 (undici, keep-alive), logger off",
);
export const httpProxy = nodePeer(
  "http-proxy",
  "peers/http-proxy.js",
  "node:http + http-proxy 1.18 with a keep-alive Agent",
);
export const undiciDispatch = nodePeer(
  "undici-dispatch",
  "peers/undici-dispatch.js",
  "reference: node:http + one undici Pool, dispatch() with a handler object, no routing",
);
