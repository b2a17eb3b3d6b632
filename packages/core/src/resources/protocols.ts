/**
 * Port protocols as Istio names them (`protocol.Parse`, case-insensitive): every name Istio knows
 * is accepted, as Istio accepts it; a name Istio does not know is an error, as in Istio. Lanecar
 * speaks HTTP/1.1 only, so any other protocol is reported as not supported and ignored.
 */
import type { Check } from "./check.js";

/** Istio's protocol names, in Istio's spelling, keyed by their lower-case form. */
const ISTIO_PROTOCOLS: Record<string, string> = {
  http: "HTTP",
  https: "HTTPS",
  http2: "HTTP2",
  http_proxy: "HTTP_PROXY",
  grpc: "GRPC",
  "grpc-web": "GRPC-Web",
  tcp: "TCP",
  tls: "TLS",
  udp: "UDP",
  mongo: "Mongo",
  redis: "Redis",
  mysql: "MySQL",
};

export const KNOWN_PROTOCOLS = Object.values(ISTIO_PROTOCOLS);

/**
 * Reads a port protocol (default HTTP) and returns it upper-cased. `where` says what Lanecar
 * does with a port of another protocol, for the warning.
 */
export function checkProtocol(
  c: Check,
  v: unknown,
  path: string,
  where: "service" | "gateway",
  required = false,
): string {
  const raw = c.str(v, path, required) ?? "HTTP";
  const known = ISTIO_PROTOCOLS[raw.toLowerCase()];
  if (known === undefined) {
    c.error(path, `unknown protocol "${raw}" (Istio knows ${KNOWN_PROTOCOLS.join(", ")})`);
    return raw.toUpperCase();
  }
  if (known === "HTTP") return "HTTP";
  // A Gateway's HTTPS servers are served (HTTP/1.1 over TLS: see gateway-tls.ts).
  if (known === "HTTPS" && where === "gateway") return "HTTPS";
  c.warn(
    path,
    where === "service"
      ? `${known} is not supported by Lanecar; ignored: this port is proxied as HTTP/1.1`
      : `${known} servers are not supported by Lanecar; ignored: the gateway serves HTTP/1.1 and HTTPS only`,
  );
  return known.toUpperCase();
}

/**
 * Endpoints Istio accepts and Lanecar cannot reach: a `unix://` socket, or an endpoint with a
 * `network` and no address (reached through that network's gateway). Warned and left out.
 */
export function skippedEndpoint(c: Check, o: Record<string, unknown>, path: string): boolean {
  const address = o.address;
  if (typeof address === "string" && address.startsWith("unix://")) {
    c.warn(`${path}.address`, "unix domain socket endpoints are not supported by Lanecar; ignored");
    return true;
  }
  if ((address === undefined || address === "") && o.network !== undefined) {
    c.warn(
      `${path}.network`,
      "an endpoint with a network and no address is reached through that network's gateway, which Lanecar does not do; ignored",
    );
    return true;
  }
  return false;
}
