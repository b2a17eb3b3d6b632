/**
 * Which data path serves traffic, chosen once at start-up:
 * - `h1` — Lanecar's own HTTP/1.1 codec on Node's built-in llhttp binding (h1/), the fast path;
 * - `node` — node:http's server and undici's pools, public APIs only (this folder).
 *
 * The codec reaches the binding through `_http_common` (deprecated, DEP0199). When the start-up
 * check finds it missing or behaving differently, Lanecar runs on the fallback instead of
 * failing; `LANECAR_DATA_PATH=node|h1` forces one (`h1` on a Node without a usable binding is an
 * error, so a forced choice is never silently ignored).
 */

import { type PoolOptions, UpstreamPool } from "../h1/client.js";
import { parserProblem } from "../h1/llhttp.js";
import { H1Server, type ServerLimits } from "../h1/server.js";
import type { DownstreamHandler, ListenerServer } from "../http/downstream.js";
import { NodeServer } from "./node-server.js";
import { UndiciPool } from "./undici-pool.js";

export type DataPathKind = "h1" | "node";

export interface DataPath {
  kind: DataPathKind;
  /** Why this path: the check's result or the variable that forced it (for the start-up log). */
  reason: string;
}

/** A data path that cannot be had (bad `LANECAR_DATA_PATH`, or a forced codec that cannot run). */
export class DataPathError extends Error {}

let chosen: DataPath | undefined;

/** Chooses the data path (once per process); throws a one-line error on a bad forced value. */
export function dataPath(env: NodeJS.ProcessEnv = process.env): DataPath {
  if (chosen) return chosen;
  const forced = (env.LANECAR_DATA_PATH ?? "").trim();
  if (forced !== "" && forced !== "auto" && forced !== "h1" && forced !== "node") {
    throw new DataPathError(`LANECAR_DATA_PATH: "${forced}" is not one of auto, h1, node`);
  }
  if (forced === "node") {
    chosen = { kind: "node", reason: "LANECAR_DATA_PATH=node" };
    return chosen;
  }
  const problem = parserProblem();
  if (problem && forced === "h1") throw new DataPathError(`LANECAR_DATA_PATH=h1: ${problem}`);
  chosen = problem
    ? { kind: "node", reason: problem }
    : { kind: "h1", reason: `Node ${process.version}'s HTTP parser binding passed the start-up check` };
  return chosen;
}

/** The start-up log line. */
export function describeDataPath(p: DataPath): string {
  return p.kind === "h1"
    ? `data path: Lanecar HTTP/1.1 codec (${p.reason})`
    : `data path: node:http + undici fallback (${p.reason})`;
}

/** A downstream listener on the chosen path. */
export function createListener(handler: DownstreamHandler, limits: ServerLimits): ListenerServer {
  return dataPath().kind === "h1" ? new H1Server(handler, limits) : new NodeServer(handler, limits);
}

export type PoolLike = UpstreamPool | UndiciPool;

/** An upstream pool for one endpoint on the chosen path. */
export function createPool(host: string, port: number, opts: PoolOptions): PoolLike {
  return dataPath().kind === "h1" ? new UpstreamPool(host, port, opts) : new UndiciPool(host, port, opts);
}
