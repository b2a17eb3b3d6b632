/**
 * The downstream HTTP/1.1 server every listener uses: Lanecar's own codec (h1/server.ts) with a
 * strict parser (lenient modes never enabled), bounded header size and count (431), and
 * timeouts that close slow clients (slowloris headers, trickled bodies) without touching
 * normal traffic.
 */
import type { AddressInfo } from "node:net";
import { H1Server, type Handler, SERVER_LIMITS, type ServerLimits } from "../h1/server.js";

export { checkingInterval, type Handler, SERVER_LIMITS, type ServerLimits } from "../h1/server.js";
export type { ServerStream } from "../h1/stream.js";

export function createProxyServer(handler: Handler, limits: ServerLimits = SERVER_LIMITS): H1Server {
  return new H1Server(handler, limits);
}

/** Parses `host:port` (`[::1]:port` allowed). */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`"${addr}" is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`"${addr}": port out of range`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export function listen(server: H1Server, addr: string): Promise<AddressInfo> {
  const { host, port } = parseListen(addr);
  return server.listen(host, port);
}

/**
 * Stops accepting, lets in-flight requests finish (their responses carry `Connection: close`,
 * idle keep-alive connections are closed), and force-closes what remains after `timeoutMs`.
 */
export function drainServer(server: H1Server, timeoutMs: number): Promise<void> {
  return server.drain(timeoutMs);
}
