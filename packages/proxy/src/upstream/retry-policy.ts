/**
 * A route's `retries` compiled for the hot path: which failures are retried and how often.
 * Safety first, as nginx and Envoy do: a request is replayed only when no byte of its body has
 * been read, and a reset after the request was sent is retried only for idempotent methods.
 */
import { DEFAULT_RETRY, type HTTPRetry } from "@lanecar/core";

export interface RetryPolicy {
  attempts: number;
  perTryTimeoutMs: number | undefined;
  connectFailure: boolean;
  reset: boolean;
  /** Any 5xx. */
  any5xx: boolean;
  /** 502, 503, 504. */
  gatewayError: boolean;
  statusCodes: ReadonlySet<number>;
}

const cache = new WeakMap<HTTPRetry, RetryPolicy>();

/** Istio's default retriable status code when `retriable-status-codes` is on. */
const DEFAULT_RETRIABLE = 503;

export function retryPolicy(r: HTTPRetry): RetryPolicy {
  let p = cache.get(r);
  if (p) return p;
  const on = new Set(r.retryOn);
  const codes = new Set<number>();
  for (const t of r.retryOn) if (/^\d{3}$/.test(t)) codes.add(Number(t));
  if (on.has("retriable-status-codes") && codes.size === 0) codes.add(DEFAULT_RETRIABLE);
  p = {
    attempts: r.attempts,
    perTryTimeoutMs: r.perTryTimeoutMs,
    connectFailure:
      on.has("connect-failure") ||
      on.has("5xx") ||
      on.has("gateway-error") ||
      on.has("reset") ||
      on.has("refused-stream"),
    // Routes without a `retries` block also retry a reset before response headers, for idempotent
    // bodyless requests only (see isIdempotent): an instance that dies mid-request must not fail a
    // GET when another instance or the fallback lane can answer it.
    reset: on.has("reset") || on.has("5xx") || r === DEFAULT_RETRY,
    any5xx: on.has("5xx"),
    gatewayError: on.has("gateway-error"),
    statusCodes: codes,
  };
  cache.set(r, p);
  return p;
}

export const NO_RETRY: RetryPolicy = {
  attempts: 0,
  perTryTimeoutMs: undefined,
  connectFailure: false,
  reset: false,
  any5xx: false,
  gatewayError: false,
  statusCodes: new Set(),
};

export function retriableStatus(p: RetryPolicy, status: number): boolean {
  if (status < 500) return p.statusCodes.has(status);
  return (
    p.any5xx ||
    (p.gatewayError && (status === 502 || status === 503 || status === 504)) ||
    p.statusCodes.has(status)
  );
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}
