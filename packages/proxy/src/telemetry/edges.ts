/**
 * The telemetry side of the listeners: which edge a request belongs to, bound once and cached, and
 * the mesh-internal headers that carry what the metrics need.
 *
 * - `SourceEdges` (outbound listener, gateway): one edge per chosen endpoint and service, plus one
 *   per service for answers no endpoint gave (404 NR, 503 UH); it also holds this workload's peer
 *   metadata header value, computed once per process.
 * - `DestinationEdges` (inbound listener): one edge per distinct peer metadata value, plus one for
 *   callers that did not say who they are (`source_workload="unknown"`); on a mutual-TLS
 *   connection, per peer SPIFFE ID too (`source_principal`, `connection_security_policy`), cached
 *   on the connection.
 *
 * `MESH_HEADERS` are the headers only Lanecar itself may write: the inbound listener consumes and
 * strips them, and the gateway and the outbound listener drop copies a client or an app sent.
 */
import { type Endpoint, fqdn } from "@lanecar/core";
import { PROBE_HEADER } from "../health/probe-request.js";
import type { MetricsSink, RequestEdge, WorkloadIdentity } from "../runtime.js";
import {
  type ConnectionSecurity,
  destinationEdgeLabels,
  type ServiceNames,
  serviceNames,
  sourceEdgeLabels,
} from "./istio-labels.js";
import { decodePeerMetadata, encodePeerMetadata, PEER_METADATA_HEADER } from "./peer-metadata.js";
import { endpointMetadata, metadataFromLabels, type WorkloadMetadata } from "./workload-metadata.js";

/** What a mutual-TLS connection proved: this workload's SPIFFE ID and the peer's ("" = none). */
export interface Principals {
  readonly localPrincipal: string;
  readonly peerPrincipal: string;
}

export const MESH_HEADERS: ReadonlySet<string> = new Set([PEER_METADATA_HEADER, PROBE_HEADER]);

/** Distinct hosts (answers without an endpoint) or peers cached; past it, edges bind uncached. */
const MAX_CACHED = 1024;

export function localMetadata(id: WorkloadIdentity): WorkloadMetadata {
  return metadataFromLabels(id.podLabels, id.workload, id.namespace, id.cluster);
}

interface EndpointSlot {
  host: string;
  /** The mutual-TLS principals (source, destination) the edge was bound with ("" = none). */
  principals: string;
  edge: RequestEdge;
  /** The same endpoint serving other hosts (rare: one WorkloadEntry in two ServiceEntries). */
  others: Map<string, RequestEdge> | undefined;
}

export class SourceEdges {
  /** `x-lanecar-peer-metadata` value this workload sends on every mesh-internal request. */
  readonly peerHeader: string;
  private readonly local: WorkloadMetadata;
  private readonly byEndpoint = new WeakMap<Endpoint, EndpointSlot>();
  private readonly byHost = new Map<string, RequestEdge>();

  constructor(
    private readonly metrics: MetricsSink,
    identity: WorkloadIdentity,
  ) {
    this.local = localMetadata(identity);
    this.peerHeader = encodePeerMetadata(this.local);
  }

  /**
   * The edge of a request to `host` (a service of `namespace`) answered by `ep`, if any, over
   * mutual TLS with `tls`'s principals (this workload's, the peer's verified SPIFFE ID) if any.
   */
  edge(
    host: string,
    namespace: string,
    ep: Endpoint | undefined,
    tls: Principals | undefined = undefined,
  ): RequestEdge {
    if (ep === undefined) {
      let e = this.byHost.get(host);
      if (e === undefined) {
        e = this.bind(serviceNames(host, namespace), undefined);
        if (this.byHost.size < MAX_CACHED) this.byHost.set(host, e);
      }
      return e;
    }
    const src = tls?.localPrincipal ?? "";
    const dst = tls?.peerPrincipal ?? "";
    const slot = this.byEndpoint.get(ep);
    // Principals change rarely (the peer's is known after the first handshake; a rotation): the
    // endpoint's slot is then bound anew.
    if (slot !== undefined && (src === "" || slot.principals === `${src} ${dst}`)) {
      if (slot.host === host) return slot.edge;
      let e = slot.others?.get(host);
      if (e === undefined) {
        e = this.bind(serviceNames(host, namespace), endpointMetadata(ep), src, dst);
        if ((slot.others ??= new Map()).size < MAX_CACHED) slot.others.set(host, e);
      }
      return e;
    }
    const e = this.bind(serviceNames(host, namespace), endpointMetadata(ep), src, dst);
    this.byEndpoint.set(ep, { host, principals: `${src} ${dst}`, edge: e, others: undefined });
    return e;
  }

  private bind(service: ServiceNames, peer: WorkloadMetadata | undefined, src = "", dst = ""): RequestEdge {
    return this.metrics.edge(sourceEdgeLabels(this.local, service, peer, src, dst));
  }
}

/** What an inbound connection tells the metrics (inbound/inbound-peer.ts), with its edge cache. */
export interface EdgeConnection {
  readonly mtls: boolean;
  readonly spiffeId: string | undefined;
  edgeHeader: string | undefined;
  edge: RequestEdge | undefined;
}

export class DestinationEdges {
  private readonly local: WorkloadMetadata;
  private readonly service: ServiceNames;
  private readonly anonymous: RequestEdge;
  private readonly byPeer = new Map<string, RequestEdge>();
  /** mTLS edges by `spiffeId \n peerHeader`; looked up once per connection and caller. */
  private readonly bySecurePeer = new Map<string, RequestEdge>();

  constructor(
    private readonly metrics: MetricsSink,
    identity: WorkloadIdentity,
    /** This workload's SPIFFE ID (`destination_principal` on mutual TLS); none without an identity. */
    private readonly ownSpiffeId: () => string | undefined = () => undefined,
  ) {
    this.local = localMetadata(identity);
    this.service = serviceNames(fqdn(identity.service, identity.namespace), identity.namespace);
    this.anonymous = this.bind(undefined);
  }

  /**
   * The edge of an inbound request, from its raw headers (one pass) and its connection; undefined
   * for an active health-check probe, which is not traffic and is counted apart.
   */
  forRequest(raw: readonly string[], conn?: EdgeConnection): RequestEdge | undefined {
    let peer: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      // Lanecar writes both names in lower case: an exact match first, lower-casing only if needed.
      if (k.length === PROBE_HEADER.length && (k === PROBE_HEADER || k.toLowerCase() === PROBE_HEADER))
        return undefined;
      if (
        k.length === PEER_METADATA_HEADER.length &&
        (k === PEER_METADATA_HEADER || k.toLowerCase() === PEER_METADATA_HEADER)
      )
        peer = peer === undefined ? raw[i + 1]! : `${peer},${raw[i + 1]!}`;
    }
    return conn?.mtls ? this.secureEdge(peer, conn) : this.edge(peer);
  }

  /** The edge of a request on a mutual-TLS connection: the connection's cache first. */
  private secureEdge(peerHeader: string | undefined, conn: EdgeConnection): RequestEdge {
    if (conn.edge !== undefined && conn.edgeHeader === peerHeader) return conn.edge;
    const key = `${conn.spiffeId ?? ""}\n${peerHeader ?? ""}`;
    let e = this.bySecurePeer.get(key);
    if (e === undefined) {
      const peer = peerHeader === undefined ? undefined : decodePeerMetadata(peerHeader);
      e = this.bind(peer, {
        sourcePrincipal: conn.spiffeId ?? "unknown",
        destinationPrincipal: this.ownSpiffeId() ?? "unknown",
        policy: "mutual_tls",
      });
      if (this.bySecurePeer.size < MAX_CACHED) this.bySecurePeer.set(key, e);
    }
    conn.edgeHeader = peerHeader;
    conn.edge = e;
    return e;
  }

  /** The edge of an inbound request whose peer metadata header is `peerHeader`. */
  edge(peerHeader: string | undefined): RequestEdge {
    if (peerHeader === undefined) return this.anonymous;
    let e = this.byPeer.get(peerHeader);
    if (e === undefined) {
      const peer = decodePeerMetadata(peerHeader);
      e = peer ? this.bind(peer) : this.anonymous;
      if (this.byPeer.size < MAX_CACHED) this.byPeer.set(peerHeader, e);
    }
    return e;
  }

  private bind(peer: WorkloadMetadata | undefined, security?: ConnectionSecurity): RequestEdge {
    return this.metrics.edge(destinationEdgeLabels(this.local, this.service, peer, security));
  }
}
