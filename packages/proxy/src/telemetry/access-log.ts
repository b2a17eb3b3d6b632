/**
 * `--access-log`: one line per request on stdout, in the spirit of Envoy's default format, with
 * the lane fields Lanecar adds. Lines are batched and written once per event-loop turn, so the
 * data path never waits on stdout.
 *
 *   [2026-12-02T03:40:00.123Z] outbound "GET /reviews/0 HTTP/1.1" 200 - 3.2ms
 *     dest=reviews.default.svc.cluster.local version=v2 upstream=10.0.0.7:9080 lane=gray
 *     fallback=none request_id=8d0c…      (one line; wrapped here)
 *
 * A TLS failure to the upstream adds ` transport_failure="TLS_error: ..."` at the end (Envoy's
 * %UPSTREAM_TRANSPORT_FAILURE_REASON%, which Istio's default format carries).
 *
 * On a mutual-TLS inbound connection the line ends with both verified identities:
 *   … source_principal=spiffe://cluster.local/ns/default/sa/productpage
 *     destination_principal=spiffe://cluster.local/ns/default/sa/reviews
 */
export interface AccessEntry {
  listener: string;
  method: string;
  path: string;
  status: number;
  flags: string;
  durationMs: number;
  destination: string;
  version: string;
  upstream: string | undefined;
  lane: string;
  fallback: string;
  requestId: string | undefined;
  /** Mutual TLS only: the peer's and this workload's SPIFFE IDs (`unknown` when a side has none). */
  sourcePrincipal?: string;
  destinationPrincipal?: string;
  /** Envoy's %UPSTREAM_TRANSPORT_FAILURE_REASON%: why a TLS connection to the upstream failed. */
  transportFailure?: string;
}

export class AccessLog {
  private lines: string[] = [];
  private scheduled = false;

  constructor(private readonly write: (chunk: string) => void = (c) => void process.stdout.write(c)) {}

  log(e: AccessEntry): void {
    this.lines.push(
      `[${new Date().toISOString()}] ${e.listener} "${e.method} ${quoteSafe(e.path)} HTTP/1.1" ${e.status} ${e.flags || "-"} ${e.durationMs.toFixed(1)}ms dest=${e.destination} version=${e.version} upstream=${e.upstream ?? "-"} lane=${e.lane} fallback=${e.fallback} request_id=${e.requestId ?? "-"}${e.transportFailure ? ` transport_failure="${oneLine(e.transportFailure)}"` : ""}${e.sourcePrincipal === undefined ? "" : ` source_principal=${e.sourcePrincipal} destination_principal=${e.destinationPrincipal ?? "unknown"}`}\n`,
    );
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const out = this.lines.join("");
    this.lines = [];
    this.write(out);
  };
}

/** Request targets come from the parser (no spaces or controls); quotes are escaped for safety. */
function quoteSafe(s: string): string {
  return s.includes('"') ? s.replaceAll('"', "%22") : s;
}

/** OpenSSL's messages may span lines: the reason is kept on the one line, quotes escaped. */
function oneLine(s: string): string {
  return quoteSafe(s.replace(/\s+/g, " ").trim());
}
