/**
 * Source-side principals (issue 15 item 6): over mutual TLS the outbound edge carries this
 * workload's SPIFFE ID as `source_principal` and the peer's verified one as
 * `destination_principal`; plaintext says `unknown`; `connection_security_policy` is `unknown` at
 * the source either way, as Istio's source reporter says. A peer verified later binds anew.
 */
import type { Endpoint } from "@lanecar/core";
import { describe, expect, it } from "vitest";
import type { MetricsSink, RequestEdge } from "../../src/runtime.js";
import { SourceEdges } from "../../src/telemetry/edges.js";
import { EDGE_LABELS } from "../../src/telemetry/istio-labels.js";

const ME = "spiffe://cluster.local/ns/default/sa/productpage";
const PEER = "spiffe://cluster.local/ns/default/sa/reviews";

function sink(): { sink: MetricsSink; bound: Record<string, string>[] } {
  const bound: Record<string, string>[] = [];
  const edge: RequestEdge = { record: () => {} };
  return {
    bound,
    sink: {
      edge: (labels) => {
        bound.push(Object.fromEntries(EDGE_LABELS.map((l, i) => [l, labels[i]!])));
        return edge;
      },
      probe: () => {},
      invalidLabels: () => {},
    },
  };
}

const ep: Endpoint = {
  key: "10.0.0.7:9080",
  address: "10.0.0.7",
  port: 9080,
  labels: { app: "reviews" },
  weight: 1,
  probe: undefined,
  origin: "WorkloadEntry/default/reviews-v1",
};
const identity = {
  service: "productpage",
  namespace: "default",
  podLabels: {},
  workload: "productpage",
  cluster: "",
};
const pick = (l: Record<string, string>) => [
  l.source_principal,
  l.destination_principal,
  l.connection_security_policy,
];

describe("source-side principals", () => {
  it("plaintext: unknown; mutual TLS: own and peer SPIFFE IDs; policy unknown at the source", () => {
    const s = sink();
    const edges = new SourceEdges(s.sink, identity);
    edges.edge("reviews.default.svc.cluster.local", "default", ep);
    const mtlsEp = { ...ep };
    edges.edge("reviews.default.svc.cluster.local", "default", mtlsEp, {
      localPrincipal: ME,
      peerPrincipal: PEER,
    });
    expect(s.bound.map(pick)).toEqual([
      ["unknown", "unknown", "unknown"],
      [ME, PEER, "unknown"],
    ]);
  });

  it("binds once per endpoint; a peer verified later (no service account known) binds anew, once", () => {
    const s = sink();
    const edges = new SourceEdges(s.sink, identity);
    const tls = { localPrincipal: ME, peerPrincipal: "" };
    edges.edge("reviews.default.svc.cluster.local", "default", ep, tls);
    edges.edge("reviews.default.svc.cluster.local", "default", ep, tls);
    tls.peerPrincipal = PEER;
    edges.edge("reviews.default.svc.cluster.local", "default", ep, tls);
    edges.edge("reviews.default.svc.cluster.local", "default", ep, tls);
    expect(s.bound.map(pick)).toEqual([
      [ME, "unknown", "unknown"],
      [ME, PEER, "unknown"],
    ]);
  });
});
