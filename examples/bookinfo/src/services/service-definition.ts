/** What one Bookinfo service is: its name, the versions it knows, and its request handler. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServiceName } from "../topology.js";
import type { Downstream } from "./downstream.js";

export interface ServiceContext {
  service: ServiceName;
  version: string;
  /** `reviews-v2` */
  servedBy: string;
  /** Calls to other services (through `HTTP_PROXY` when set). */
  downstream: Downstream;
}

/**
 * Handles one request (`/health` and unknown paths are answered by the host). Returns false when
 * the path is not one of this service's, so the host answers 404.
 */
export type RequestHandler = (
  ctx: ServiceContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
) => Promise<boolean>;

export interface ServiceDefinition {
  service: ServiceName;
  /** Versions this code can play, each with what differs. */
  versions: Readonly<Record<string, string>>;
  handle: RequestHandler;
}
