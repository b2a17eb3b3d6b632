/**
 * The correlation store (SPEC section 4): what each inbound request looked like, keyed by the
 * value of each of its correlation headers (`x-request-id`, the trace id of `traceparent`,
 * `x-b3-traceid`, ...), so that an outbound call carrying the same value finds it again.
 *
 * - An LRU with a TTL: defaults 100 000 entries, 60 s. An expired or evicted entry reads as
 *   "no value", never as a stale or "last seen" one. It is a `Map` of entries that are also
 *   linked in least-recently-used order (a hit moves its entry to the tail; the head is the one
 *   evicted, in constant time), so memory follows the entries actually held; lru-cache, used
 *   before, allocates arrays for the maximum up front (~5 MB resident for 100 000, in every
 *   sidecar, however idle).
 * - First write wins: an unexpired entry is never overwritten, so a trace id copied from another
 *   request cannot change the lane that request was recorded with.
 * - Bounded whatever clients send: keys over 256 characters are ignored, and a record keeps at
 *   most {@link MAX_RECORD_HEADERS} headers of at most {@link MAX_RECORD_VALUE_LENGTH} characters
 *   each (longer values are dropped, not truncated: a cut value would be a different value).
 */
import {
  type CorrelationLookup,
  type CorrelationRecord,
  correlationContext,
  correlationKey,
  type HeaderGetter,
  isTraceIdHeader,
  TRACE_ID_HEADERS,
} from "@lanecar/core";

/** Default number of entries (SPEC section 4). */
export const DEFAULT_CORRELATION_MAX_ENTRIES = 100_000;
/** Default time to live of an entry in milliseconds (SPEC section 4). */
export const DEFAULT_CORRELATION_TTL_MS = 60_000;
/** Longest correlation key stored; longer keys are ignored (same bound as core's `correlationKey`). */
export const MAX_CORRELATION_KEY_LENGTH = 256;
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

interface Entry {
  key: string;
  rec: CorrelationRecord;
  /** Clock reading when recorded; the entry is expired once the clock is past `at + ttlMs`. */
  at: number;
  /** Neighbours in recency order (`prev` is less recently used). */
  prev: Entry | undefined;
  next: Entry | undefined;
}

/**
 * Key of one entry: correlation context, then the normalized value. Header names hold no `\n`.
 * The trace-id headers (traceparent, b3, x-b3-traceid) share one context, so a trace id recorded
 * from one form is found from another.
 */
function entryKey(ctx: string, key: string): string {
  return `${correlationContext(ctx)}\n${key}`;
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
  private readonly entries = new Map<string, Entry>();
  /** Least recently used (next to evict) ... most recently used. */
  private head: Entry | undefined;
  private tail: Entry | undefined;
  private readonly now: () => number;

  constructor(opts: CorrelationStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_CORRELATION_MAX_ENTRIES;
    this.ttlMs = opts.ttlMs ?? DEFAULT_CORRELATION_TTL_MS;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1)
      throw new RangeError(`correlation maxEntries must be a positive integer, got ${this.maxEntries}`);
    if (!Number.isInteger(this.ttlMs) || this.ttlMs < 1)
      throw new RangeError(`correlation ttlMs must be a positive integer, got ${this.ttlMs}`);
    // Expired entries are dropped when read or pushed out by new ones; no timer per entry.
    this.now = opts.now ?? (() => performance.now());
  }

  /** Entries held, including expired ones not yet dropped (see {@link purgeStale}). */
  get size(): number {
    return this.entries.size;
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
    let traceDone = false;
    for (let i = 0; i < correlationHeaders.length; i++) {
      const ctx = correlationHeaders[i]!;
      if (isTraceIdHeader(ctx)) {
        // Every trace form the request carries, once: the app may forward any of them.
        if (traceDone) continue;
        traceDone = true;
        for (let j = 0; j < TRACE_ID_HEADERS.length; j++) {
          const h = TRACE_ID_HEADERS[j]!;
          const key = correlationKey(h, header(h));
          if (key === undefined) continue;
          bounded ??= boundedRecord(rec);
          this.put(h, key, bounded);
        }
        continue;
      }
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
    const e = this.entries.get(entryKey(ctx, key));
    if (e === undefined || this.expired(e, this.now())) {
      if (e !== undefined) this.remove(e);
      this.misses++;
      return undefined;
    }
    // Most recently used: to the tail.
    if (e !== this.tail) {
      this.unlink(e);
      this.append(e);
    }
    this.hits++;
    return e.rec;
  };

  /** Drops expired entries now (e.g. before reporting {@link size}); returns whether any went. */
  purgeStale(): boolean {
    const now = this.now();
    let any = false;
    for (let e = this.head; e !== undefined; ) {
      const next = e.next;
      if (this.expired(e, now)) {
        this.remove(e);
        any = true;
      }
      e = next;
    }
    return any;
  }

  clear(): void {
    this.entries.clear();
    this.head = this.tail = undefined;
  }

  private expired(e: Entry, now: number): boolean {
    return now - e.at > this.ttlMs;
  }

  private put(ctx: string, key: string, rec: CorrelationRecord): void {
    if (key.length === 0 || key.length > MAX_CORRELATION_KEY_LENGTH) return;
    const k = entryKey(ctx, key);
    const now = this.now();
    const e = this.entries.get(k);
    if (e !== undefined) {
      // First write wins while it lives; an expired record is replaced (as a new entry).
      if (!this.expired(e, now)) return;
      this.remove(e);
    } else if (this.entries.size >= this.maxEntries && this.head) {
      // Full: the least recently used entry goes (expired or not).
      this.remove(this.head);
    }
    const added: Entry = { key: k, rec, at: now, prev: undefined, next: undefined };
    this.entries.set(k, added);
    this.append(added);
  }

  private remove(e: Entry): void {
    this.entries.delete(e.key);
    this.unlink(e);
  }

  private unlink(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = undefined;
  }

  private append(e: Entry): void {
    e.prev = this.tail;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
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
