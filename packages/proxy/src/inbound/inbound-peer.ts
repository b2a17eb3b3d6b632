/**
 * Who is on the other end of an inbound connection, worked out once per connection: on a
 * mutual-TLS connection, the SPIFFE ID in the URI SAN of the peer certificate the handshake
 * verified against the mesh root (identity/inbound-handshake.ts, behind mesh-tls.ts `accept`); on
 * plaintext, nobody. AuthorizationPolicy (`source.principal`, `namespaces`) and the telemetry
 * labels (`source_principal`, `connection_security_policy`) read it for every request on the
 * connection. A connection also remembers the metrics edge of its last peer-metadata value, since
 * one connection nearly always carries one caller's requests.
 */
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { principalNamespace } from "@lanecar/core";
import { uriSans } from "../identity/spiffe.js";
import type { RequestEdge } from "../runtime.js";

export interface InboundPeer {
  readonly mtls: boolean;
  /** `spiffe://cluster.local/ns/default/sa/sleep`; undefined on plaintext or without a SPIFFE URI SAN. */
  readonly spiffeId: string | undefined;
  /** The same without `spiffe://`, as AuthorizationPolicy `principals` are written. */
  readonly principal: string | undefined;
  /** Its namespace (`namespaces`, `source.namespace`). */
  readonly namespace: string | undefined;
  /** Telemetry cache: the peer-metadata header value last seen on this connection and its edge. */
  edgeHeader: string | undefined;
  edge: RequestEdge | undefined;
}

/** Every plaintext connection: no principal, nothing cached per connection. */
export const PLAINTEXT: InboundPeer = Object.freeze({
  mtls: false,
  spiffeId: undefined,
  principal: undefined,
  namespace: undefined,
  edgeHeader: undefined,
  edge: undefined,
});

const SPIFFE = "spiffe://";
const peers = new WeakMap<Socket, InboundPeer>();

/** The peer of `socket`: computed on its first request, then looked up. */
export function inboundPeer(socket: Socket): InboundPeer {
  if (!(socket instanceof TLSSocket)) return PLAINTEXT;
  let p = peers.get(socket);
  if (p === undefined) {
    p = fromCertificate(socket);
    peers.set(socket, p);
  }
  return p;
}

function fromCertificate(socket: TLSSocket): InboundPeer {
  // The gate hands over only peers its tls.Server verified (identity/inbound-handshake.ts), so
  // `authorized` holds; checked again so an unverified socket can never carry a principal.
  const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
  const id = cert ? uriSans(cert.subjectaltname).find((u) => u.startsWith(SPIFFE)) : undefined;
  const principal = id?.slice(SPIFFE.length);
  return {
    mtls: true,
    spiffeId: id,
    principal,
    namespace: principalNamespace(principal),
    edgeHeader: undefined,
    edge: undefined,
  };
}
