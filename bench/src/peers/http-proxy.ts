/**
 * Peer: node-http-proxy (http-proxy 1.18) behind a node:http server, with a keep-alive agent
 * to the upstream — the configuration people run it with in production.
 */
import { Agent, createServer } from "node:http";
import httpProxy from "http-proxy";
import { announce, peerArgs } from "./peer-args.js";

const { port, target } = peerArgs();
const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 60_000 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on("error", (_err, _req, res) => {
  if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
  res.end("bad gateway");
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 120_000;
server.listen(port, "127.0.0.1", () => announce(server));
