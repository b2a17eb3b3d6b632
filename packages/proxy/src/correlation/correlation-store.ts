/**
 * The correlation store (SPEC section 4): what each inbound request looked like, keyed by the
 * value of each of its correlation headers (`x-request-id`, the trace id of `traceparent`,
 * `x-b3-traceid`, ...), so that an outbound call carrying the same value finds it again.
 *
 * - An LRU with a TTL (lru-cache): defaults 100 000 entries, 60 s. An expired or evicted entry
 *   reads as "no value", never as a stale or "last seen" one.
 * - First write wins: an unexpired entry is never overwritten, so a trace id copied from another
 *   request cannot change the lane that request was recorded with.
 * - Bounded whatever clients send: keys over 256 characters are ignored, and a record keeps at
 *   most {@link MAX_RECORD_HEADERS} headers of at most {@link MAX_RECORD_VALUE_LENGTH} characters
 *   each (longer values are dropped, not truncated: a cut value would be a different value).
 */
import {
  type CorrelationLookup,
  type CorrelationRecord,
  correlationKey,
  type HeaderGetter,
} from "@lanecar/core";
import { LRUCache } from "lru-cache";

/** Default number of entries (SPEC section 4). */
export const DEFAULT_CORRELATION_MAX_ENTRIES = 100_000;
/** Default time to live of an entry in milliseconds (SPEC section 4). */
export const DEFAULT_CORRELATION_TTL_MS = 60_000;
/** Longest correlation key stored; longer keys are ignored (same bound as core's `correlationKey`). */
export const MAX_CORRELATION_KEY_LENGTH = 256;
/**
 * How long lru-cache reuses one clock reading for TTL checks, ms. Its default (1 ms) arms a
 * 1 ms timer whenever the cached reading goes stale — up to 1 000 timers a second on a busy
 * sidecar, each a timer-list insert — for a precision a 60 s TTL does not need. An entry lives
 * its TTL give or take this much.
 */
export const CLOCK_RESOLUTION_MS = 10;
/** Most headers (and most labels) one record keeps; the rest are left out. */
export const MAX_RECORD_HEADERS = 32;
/** Longest header or label value a record keeps (characters; Node header strings are latin1, so bytes). */
export const MAX_RECORD_VALUE_LENGTH = 1024;

export interface CorrelationStoreOptions {
  /** Most entries kept; the least recently used goes first. Default 100 000. */
  maxEntries?: number;
  /** Entry lifetime in milliseconds, from when it was recorded. Default 60 000. */
  ttlMs?: number;
  /** Clock in milliseconds (tests); default `performance.now()`. Must return values > 0. */
  now?: () => number;
}

/** Key of one entry: correlation header name, then the normalized value. Header names hold no `\n`. */
function entryKey(ctx: string, key: string): string {
  return `${ctx}\n${key}`;
}

/** `src` when it is within the bounds, else a copy keeping only what fits. */
function boundedValues(src: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  let n = 0;
  let ok = true;
  for (const k in src) {
    if (
      ++n > MAX_RECORD_HEADERS ||
      src[k]!.length > MAX_RECORD_VALUE_LENGTH ||
      k.length > MAX_RECORD_VALUE_LENGTH
    ) {
      ok = false;
      break;
    }
  }
  if (ok) return src;
  const out: Record<string, string> = {};
  n = 0;
  for (const k in src) {
    const v = src[k]!;
    if (v.length > MAX_RECORD_VALUE_LENGTH || k.length > MAX_RECORD_VALUE_LENGTH) continue;
    out[k] = v;
    if (++n === MAX_RECORD_HEADERS) break;
  }
  return out;
}

/** `rec` itself when it is within the bounds, else a bounded copy. */
export function boundedRecord(rec: CorrelationRecord): CorrelationRecord {
  const headers = boundedValues(rec.headers);
  const labels = boundedValues(rec.labels);
  return headers === rec.headers && labels === rec.labels ? rec : { headers, labels };
}

export class CorrelationStore {
  readonly maxEntries: number;
  readonly ttlMs: number;
  /** Lookups that found an unexpired record. */
  hits = 0;
  /** Lookups that found nothing (never recorded, expired or evicted). */
  misses = 0;
  private readonly cache: LRUCache<string, CorrelationRecord>;

  constructor(opts: CorrelationStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_CORRELATION_MAX_ENTRIES;
    this.ttlMs = opts.ttlMs ?? DEFAULT_CORRELATION_TTL_MS;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1)
      throw new RangeError(`correlation maxEntries must be a positive integer, got ${this.maxEntries}`);
    if (!Number.isInteger(this.ttlMs) || this.ttlMs < 1)
      throw new RangeError(`correlation ttlMs must be a positive integer, got ${this.ttlMs}`);
    this.cache = new LRUCache<string, CorrelationRecord>({
      max: this.maxEntries,
      ttl: this.ttlMs,
      // Expired entries are dropped when read or pushed out by new ones; no timer per entry.
      ttlAutopurge: false,
      allowStale: false,
      updateAgeOnGet: false,
      ttlResolution: CLOCK_RESOLUTION_MS,
      ...(opts.now ? { perf: { now: opts.now }, ttlResolution: 0 } : {}),
    });
  }

  /** Entries held, including expired ones not yet dropped (see {@link purgeStale}). */
  get size(): number {
    return this.cache.size;
  }

  /**
   * Stores `rec` under header `ctx` with normalized value `key` (see core's `correlationKey`),
   * unless an unexpired record is already there (first write wins). Keys over 256 characters
   * are ignored.
   */
  record(ctx: string, key: string, rec: CorrelationRecord): void {
    this.put(ctx, key, boundedRecord(rec));
  }

  /** Stores `rec` under every correlation header the inbound request carries. */
  recordInbound(header: HeaderGetter, correlationHeaders: readonly string[], rec: CorrelationRecord): void {
    let bounded: CorrelationRecord | undefined;
    for (let i = 0; i < correlationHeaders.length; i++) {
      const ctx = correlationHeaders[i]!;
      const key = correlationKey(ctx, header(ctx));
      if (key === undefined) continue;
      bounded ??= boundedRecord(rec);
      this.put(ctx, key, bounded);
    }
  }

  /** The unexpired record under header `ctx` and normalized value `key`, or undefined. */
  readonly lookup: CorrelationLookup = (ctx, key) => {
    if (key.length > MAX_CORRELATION_KEY_LENGTH) {
      this.misses++;
      return undefined;
    }
    const rec = this.cache.get(entryKey(ctx, key));
    if (rec === undefined) this.misses++;
    else this.hits++;
    return rec;
  };

  /** Drops expired entries now (e.g. before reporting {@link size}); returns whether any went. */
  purgeStale(): boolean {
    return this.cache.purgeStale();
  }

  clear(): void {
    this.cache.clear();
  }

  private put(ctx: string, key: string, rec: CorrelationRecord): void {
    if (key.length === 0 || key.length > MAX_CORRELATION_KEY_LENGTH) return;
    const k = entryKey(ctx, key);
    // `has` is false for an expired entry, so an expired record is replaced, a live one kept.
    if (this.cache.has(k)) return;
    this.cache.set(k, rec);
  }
}

/**
 * Stores `rec` in `store` under every correlation header present on the inbound request
 * (`x-request-id` as sent, the trace id of `traceparent`, `x-b3-traceid`, ...), using core's
 * `correlationKey` to normalize each value. Headers that are absent or unusable are skipped.
 */
export function recordInbound(
  store: CorrelationStore,
  header: HeaderGetter,
  correlationHeaders: readonly string[],
  rec: CorrelationRecord,
): void {
  store.recordInbound(header, correlationHeaders, rec);
}
