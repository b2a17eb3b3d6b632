/**
 * The downstream HTTP/1.1 server every listener uses: Lanecar's own codec (h1/server.ts) with a
 * strict parser (lenient modes never enabled), bounded header size and count (431), and
 * timeouts that close slow clients (slowloris headers, trickled bodies) without touching
 * normal traffic.
 */
import type { AddressInfo } from "node:net";
import { createListener } from "../fallback/data-path.js";
import { SERVER_LIMITS, type ServerLimits } from "../h1/server.js";
import type { DownstreamHandler, ListenerServer } from "./downstream.js";

export { checkingInterval, SERVER_LIMITS, type ServerLimits } from "../h1/server.js";
export type { DownstreamHandler as Handler, DownstreamStream, ListenerServer } from "./downstream.js";

/** A listener on the data path chosen at start-up (fallback/data-path.ts). */
export function createProxyServer(
  handler: DownstreamHandler,
  limits: ServerLimits = SERVER_LIMITS,
): ListenerServer {
  return createListener(handler, limits);
}

/** Parses `host:port` (`[::1]:port` allowed). */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`"${addr}" is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`"${addr}": port out of range`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export function listen(server: ListenerServer, addr: string): Promise<AddressInfo> {
  const { host, port } = parseListen(addr);
  return server.listen(host, port);
}

/**
 * Stops accepting, lets in-flight requests finish (their responses carry `Connection: close`,
 * idle keep-alive connections are closed), and force-closes what remains after `timeoutMs`.
 */
export function drainServer(server: ListenerServer, timeoutMs: number): Promise<void> {
  return server.drain(timeoutMs);
}
