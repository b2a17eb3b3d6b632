/**
 * Steady, evenly mixed traffic into the Bookinfo gateway, and what the clients saw of it: a few
 * workers each cycle through four kinds of visitor (jason → gray lane; a prod cookie; the dev
 * lane, which falls back at productpage and ratings; a new visitor, drawn 90/10 by the gateway's
 * weighted route) and read the lane map every answer carries. The counts are what the metrics must
 * imply: how many calls each reviews version took, and how many of them failed.
 */

export interface Visitor {
  name: string;
  headers: Record<string, string>;
}

export const VISITORS: readonly Visitor[] = [
  { name: "jason", headers: { "end-user": "jason" } },
  { name: "prod-cookie", headers: { cookie: "lane=prod" } },
  { name: "dev", headers: { "x-asm-prefer-tag": "dev" } },
  { name: "new-visitor", headers: {} },
];

export interface Observed {
  /** Answers from the gateway, by status. */
  statuses: Map<number, number>;
  /** productpage answers by version. */
  productpage: Map<string, number>;
  /** Calls that reached reviews, by version; failed ones under `error:<status>`. */
  reviews: Map<string, number>;
  /** Requests that failed before an answer (connection errors, timeouts). */
  errors: string[];
}

function bump(m: Map<string | number, number>, k: string | number): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export class Traffic {
  readonly seen: Observed = { statuses: new Map(), productpage: new Map(), reviews: new Map(), errors: [] };
  private running = true;
  private readonly workers: Promise<void>[];
  sent = 0;
  readonly startedAt = Date.now();

  constructor(
    private readonly gatewayUrl: string,
    workers = 3,
  ) {
    this.workers = Array.from({ length: workers }, (_, w) => this.work(w));
  }

  private async work(offset: number): Promise<void> {
    for (let i = offset; this.running; i++) {
      const v = VISITORS[i % VISITORS.length]!;
      this.sent++;
      try {
        const r = await fetch(`${this.gatewayUrl}/api/v1/lanes`, {
          headers: v.headers,
          signal: AbortSignal.timeout(10_000),
        });
        const text = await r.text();
        bump(this.seen.statuses, r.status);
        if (r.status !== 200) continue;
        const lanes = JSON.parse(text) as Record<string, string | null>;
        bump(this.seen.productpage, r.headers.get("x-bookinfo-served-by") ?? "?");
        if (lanes.reviews) bump(this.seen.reviews, lanes.reviews);
      } catch (err) {
        this.seen.errors.push(`${v.name}: ${(err as Error).message}`);
      }
    }
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}
