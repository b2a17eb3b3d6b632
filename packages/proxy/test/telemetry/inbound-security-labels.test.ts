/**
 * Inbound telemetry with mutual TLS (issue 15 item 6): the destination reporter's principals and
 * `connection_security_policy` from the connection, one edge per (peer SPIFFE ID, peer metadata)
 * cached on the connection, and the access log's principal fields (byte-exact line ends).
 */
import { describe, expect, it } from "vitest";
import type { MetricsSink, RequestEdge, WorkloadIdentity } from "../../src/runtime.js";
import { type AccessEntry, AccessLog } from "../../src/telemetry/access-log.js";
import { DestinationEdges, type EdgeConnection } from "../../src/telemetry/edges.js";
import { destinationEdgeLabels, EDGE_LABELS, serviceNames } from "../../src/telemetry/istio-labels.js";
import { encodePeerMetadata } from "../../src/telemetry/peer-metadata.js";
import { metadataFromLabels } from "../../src/telemetry/workload-metadata.js";

const named = (values: readonly string[]) => Object.fromEntries(EDGE_LABELS.map((l, i) => [l, values[i]]));
const RATINGS = "spiffe://cluster.local/ns/default/sa/ratings";
const REVIEWS_ID = "spiffe://cluster.local/ns/default/sa/reviews";

/** A sink recording every edge bound, by its labels. */
function sink(): MetricsSink & { bound: Record<string, string | undefined>[] } {
  const bound: Record<string, string | undefined>[] = [];
  return {
    bound,
    edge(labels) {
      bound.push(named(labels));
      return { record() {} } as unknown as RequestEdge;
    },
    probe() {},
    invalidLabels() {},
  };
}

const identity: WorkloadIdentity = {
  service: "reviews",
  namespace: "default",
  podLabels: { app: "reviews", version: "v1" },
  workload: "reviews-v1",
  cluster: "",
};

const conn = (spiffeId: string | undefined): EdgeConnection => ({
  mtls: true,
  spiffeId,
  edgeHeader: undefined,
  edge: undefined,
});

describe("destination labels on a mutual-TLS connection", () => {
  it("principals are the SPIFFE IDs and the policy mutual_tls; plaintext stays unknown/none", () => {
    const reviews = metadataFromLabels({ app: "reviews" }, "reviews-v1", "default");
    const svc = serviceNames("reviews.default.svc.cluster.local");
    expect(
      named(
        destinationEdgeLabels(reviews, svc, undefined, {
          sourcePrincipal: RATINGS,
          destinationPrincipal: REVIEWS_ID,
          policy: "mutual_tls",
        }),
      ),
    ).toMatchObject({
      source_principal: RATINGS,
      destination_principal: REVIEWS_ID,
      connection_security_policy: "mutual_tls",
    });
    expect(named(destinationEdgeLabels(reviews, svc, undefined))).toMatchObject({
      source_principal: "unknown",
      destination_principal: "unknown",
      connection_security_policy: "none",
    });
  });

  it("binds one edge per peer and caller, reused by the connection without a new lookup", () => {
    const s = sink();
    const edges = new DestinationEdges(s, identity, () => REVIEWS_ID);
    const header = encodePeerMetadata(metadataFromLabels({ app: "ratings" }, "ratings-v1", "default"));
    const raw = ["x-lanecar-peer-metadata", header];
    const a = conn(RATINGS);
    const first = edges.forRequest(raw, a);
    expect(edges.forRequest(raw, a)).toBe(first);
    expect(a.edge).toBe(first);
    // Another connection from the same peer shares the edge; another peer gets its own.
    expect(edges.forRequest(raw, conn(RATINGS))).toBe(first);
    const other = edges.forRequest(raw, conn("spiffe://cluster.local/ns/default/sa/other"));
    expect(other).not.toBe(first);
    // Plaintext from the same caller is a third series.
    expect(edges.forRequest(raw)).not.toBe(first);
    const secure = s.bound.filter((b) => b.connection_security_policy === "mutual_tls");
    expect(secure.map((b) => [b.source_principal, b.destination_principal, b.source_workload])).toEqual([
      [RATINGS, REVIEWS_ID, "ratings-v1"],
      ["spiffe://cluster.local/ns/default/sa/other", REVIEWS_ID, "ratings-v1"],
    ]);
  });

  it("a verified certificate without a SPIFFE ID: mutual_tls with principal unknown", () => {
    const s = sink();
    new DestinationEdges(s, identity, () => REVIEWS_ID).forRequest([], conn(undefined));
    expect(s.bound.at(-1)).toMatchObject({
      source_principal: "unknown",
      connection_security_policy: "mutual_tls",
    });
  });
});

describe("access log principals", () => {
  const base: AccessEntry = {
    listener: "inbound",
    method: "GET",
    path: "/x",
    status: 403,
    flags: "RBAC",
    durationMs: 0.25,
    destination: "reviews",
    version: "v1",
    upstream: undefined,
    lane: "none",
    fallback: "none",
    requestId: "r1",
  };

  function line(e: AccessEntry): string {
    let out = "";
    const log = new AccessLog((c) => {
      out += c;
    });
    log.log(e);
    log.flush();
    return out;
  }

  it("mTLS: the line ends with both principals; plaintext: the line is as before", () => {
    expect(line({ ...base, sourcePrincipal: RATINGS, destinationPrincipal: REVIEWS_ID })).toMatch(
      /\] inbound "GET \/x HTTP\/1\.1" 403 RBAC 0\.3ms dest=reviews version=v1 upstream=- lane=none fallback=none request_id=r1 source_principal=spiffe:\/\/cluster\.local\/ns\/default\/sa\/ratings destination_principal=spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews\n$/,
    );
    expect(line(base)).toMatch(/ request_id=r1\n$/);
  });
});
