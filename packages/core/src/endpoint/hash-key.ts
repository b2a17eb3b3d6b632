/** The consistent-hash key of a request for a DestinationRule's `consistentHash` policy. */
import type { ConsistentHashLB } from "../resources/types.js";
import type { RouteRequest } from "../route/request.js";

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Undefined when the policy is not consistent hashing or the request lacks the key. */
export function hashKeyFor(hash: ConsistentHashLB | undefined, req: RouteRequest): string | undefined {
  if (!hash) return undefined;
  if (hash.httpHeaderName) return req.header(hash.httpHeaderName);
  if (hash.httpCookie) return cookie(req.header("cookie"), hash.httpCookie.name);
  if (hash.useSourceIp) return req.sourceIp;
  if (hash.httpQueryParameterName) {
    const q = req.path.indexOf("?");
    return q < 0
      ? undefined
      : (new URLSearchParams(req.path.slice(q + 1)).get(hash.httpQueryParameterName) ?? undefined);
  }
  return undefined;
}
