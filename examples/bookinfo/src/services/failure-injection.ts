/**
 * Injected failures, for demos and tests of error-rate analysis (Flagger, Argo Rollouts): a
 * service started with `FAIL_PERCENT=25` (or `--fail-percent 25`) answers 500 to exactly that
 * share of its requests, spread evenly and deterministically (request n fails when
 * ⌊n·p/100⌋ > ⌊(n−1)·p/100⌋: with 25, every fourth), so a test knows the share it must observe.
 * `/health` is never failed: the instance stays healthy, as a buggy canary does.
 */
export class FailureInjector {
  private n = 0;

  constructor(readonly percent: number) {}

  /** Whether the next request fails. */
  next(): boolean {
    const n = ++this.n;
    return Math.floor((n * this.percent) / 100) > Math.floor(((n - 1) * this.percent) / 100);
  }
}
