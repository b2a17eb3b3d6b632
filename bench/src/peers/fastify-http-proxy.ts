/**
 * Peer: fastify 5 with @fastify/http-proxy 11 (reply-from over undici, kept alive by default),
 * logging off — the usual Node gateway setup.
 */
import proxy from "@fastify/http-proxy";
import Fastify from "fastify";
import { announce, peerArgs } from "./peer-args.js";

const { port, target } = peerArgs();
const app = Fastify({ logger: false, keepAliveTimeout: 120_000 });
await app.register(proxy, { upstream: target, prefix: "/", http2: false });
await app.listen({ port, host: "127.0.0.1" });
announce(app.server);
