/**
 * Micro benchmark: the per-request cost of the metrics call, in process, as the listeners make it
 * (outbound: edge of the chosen endpoint, then record; inbound: edge from the raw headers, then
 * record). Run after `pnpm build`: `node test/observability/metrics-cost.mjs`. Prints ns per call
 * over several rounds; the machine's load shows as spread between rounds.
 */
import { DestinationEdges, IstioMetrics, SourceEdges } from "../../packages/proxy/dist/telemetry/index.js";

const m = new IstioMetrics();
const identity = (service, version) => ({
  service,
  namespace: "default",
  podLabels: { app: service, version, ASM_TRAFFIC_TAG: "gray" },
  workload: `${service}-${version}`,
  cluster: "",
});
const out = new SourceEdges(m, identity("productpage", "v1"));
const inb = new DestinationEdges(m, identity("reviews", "v2"));
const ep = Object.freeze({
  key: "127.0.0.1:15122",
  address: "127.0.0.1",
  port: 15122,
  labels: { app: "reviews", version: "v2", ASM_TRAFFIC_TAG: "gray" },
  weight: 1,
  probe: undefined,
  origin: "WorkloadEntry/default/reviews-v2",
});
const raw = [
  "host",
  "reviews:9080",
  "user-agent",
  "node",
  "accept",
  "*/*",
  "x-request-id",
  "8d0c5f0e-1",
  "x-asm-prefer-tag",
  "gray",
  "baggage",
  "x-asm-prefer-tag=gray",
  "x-lanecar-peer-metadata",
  out.peerHeader,
];
const host = "reviews.default.svc.cluster.local";
const codes = [200, 200, 200, 503];
const lanes = ["gray", "prod"];

function run(n) {
  for (let i = 0; i < n; i++) {
    out.edge(host, "default", ep).record(codes[i & 3], "-", lanes[i & 1], "none", 3.2, 0, 1800);
    inb.forRequest(raw).record(codes[i & 3], "-", lanes[i & 1], "none", 2.1, 0, 1800);
  }
}

run(200_000);
const N = 2_000_000;
for (let r = 0; r < 5; r++) {
  const t = process.hrtime.bigint();
  run(N / 2);
  console.log(`after: ${(Number(process.hrtime.bigint() - t) / N).toFixed(1)} ns per metrics call`);
}
