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
 *   The store is bounded by an estimate of its bytes as well as by its count.
 * - Memory returns after load: entries expire in the order they were recorded (first write wins,
 *   so an entry's time never changes), which is the `Map`'s insertion order; an unref'd timer
 *   drops the expired ones from its front, a bounded number per tick, and `size` counts live ones.
 */
import {
  type CorrelationLookup,
  type CorrelationRecord,
  correlationKey,
  type HeaderGetter,
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

/** Default bound on the store's estimated bytes ({@link entryBytes}): 64 MiB. */
export const DEFAULT_CORRELATION_MAX_BYTES = 64 * 1024 * 1024;
/** Most expired entries one background purge tick drops (a few milliseconds of work). */
export const PURGE_BUDGET = 20_000;
/** Estimated bytes the purge must have dropped, with no entry recorded since, to call `onIdleRelease`. */
export const IDLE_RELEASE_BYTES = 16 * 1024 * 1024;

/**
 * Estimated heap bytes of one entry besides its strings: the entry object, its `Map` slot, its
 * key and the record's objects (counted in every entry that shares the record: an overestimate).
 * Measured on Node 20 (heap after GC, 100 000 entries): a small record alone 534 B real vs 534
 * estimated, with a 500-byte header 1 007 vs 1 034; one record under three keys ~400 vs ~530.
 */
const ENTRY_OVERHEAD_BYTES = 290;
/** Per property of a record: the property slot plus two string headers. */
const PROPERTY_OVERHEAD_BYTES = 48;

/** Estimated bytes of the strings and objects of one record. */
function recordBytes(rec: CorrelationRecord): number {
  let n = 0;
  for (const k in rec.headers) n += PROPERTY_OVERHEAD_BYTES + k.length + rec.headers[k]!.length;
  for (const k in rec.labels) n += PROPERTY_OVERHEAD_BYTES + k.length + rec.labels[k]!.length;
  return n;
}

/** Estimated bytes one entry holds (strings are latin1 here: one byte a character). */
export function entryBytes(key: string, rec: CorrelationRecord): number {
  return ENTRY_OVERHEAD_BYTES + key.length + recordBytes(rec);
}

export interface CorrelationStoreOptions {
  /** Most entries kept; the least recently used goes first. Default 100 000. */
  maxEntries?: number;
  /** Entry lifetime in milliseconds, from when it was recorded. Default 60 000. */
  ttlMs?: number;
  /** Bound on the estimated bytes held ({@link entryBytes}); LRU eviction. Default 64 MiB. */
  maxBytes?: number;
  /**
   * How often expired entries are dropped in the background; 0 = never (they still go when
   * read, pushed out, or counted). Default: a quarter of the TTL, between 100 ms and 1 s.
   */
  purgeIntervalMs?: number;
  /**
   * Called from the background purge once it has dropped {@link IDLE_RELEASE_BYTES} and nothing
   * was recorded for a whole tick: the store went idle after load. The process uses it to ask
   * V8 for a full collection, which an idle process otherwise may never run (RSS stays high).
   */
  onIdleRelease?: () => void;
  /** Clock in milliseconds (tests); default `performance.now()`. Must return values > 0. */
  now?: () => number;
}

interface Entry {
  key: string;
  rec: CorrelationRecord;
  /** Clock reading when recorded; the entry is expired once the clock is past `at + ttlMs`. */
  at: number;
  /** Estimated bytes ({@link entryBytes}). */
  bytes: number;
  /** Neighbours in recency order (`prev` is less recently used). */
  prev: Entry | undefined;
  next: Entry | undefined;
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
  readonly maxBytes: number;
  /** Estimated bytes of the entries held. */
  bytes = 0;
  /** Lookups that found an unexpired record. */
  hits = 0;
  /** Lookups that found nothing (never recorded, expired or evicted). */
  misses = 0;
  private readonly entries = new Map<string, Entry>();
  /** Least recently used (next to evict) ... most recently used. */
  private head: Entry | undefined;
  private tail: Entry | undefined;
  private readonly now: () => number;
  private readonly purger: NodeJS.Timeout | undefined;
  private readonly onIdleRelease: (() => void) | undefined;
  /** Entries recorded so far, and as of the last purge tick (no change = idle). */
  private puts = 0;
  private putsAtTick = 0;
  /** Estimated bytes of expired entries dropped since the last idle release. */
  private released = 0;

  constructor(opts: CorrelationStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_CORRELATION_MAX_ENTRIES;
    this.ttlMs = opts.ttlMs ?? DEFAULT_CORRELATION_TTL_MS;
    this.maxBytes = opts.maxBytes ?? DEFAULT_CORRELATION_MAX_BYTES;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1)
      throw new RangeError(`correlation maxEntries must be a positive integer, got ${this.maxEntries}`);
    if (!Number.isInteger(this.ttlMs) || this.ttlMs < 1)
      throw new RangeError(`correlation ttlMs must be a positive integer, got ${this.ttlMs}`);
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 1)
      throw new RangeError(`correlation maxBytes must be a positive integer, got ${this.maxBytes}`);
    this.now = opts.now ?? (() => performance.now());
    // One timer for the store, never one per entry; unref'd so it keeps no process alive.
    this.onIdleRelease = opts.onIdleRelease;
    const every = opts.purgeIntervalMs ?? Math.min(1000, Math.max(100, Math.floor(this.ttlMs / 4)));
    if (every > 0) {
      this.purger = setInterval(() => this.purgeTick(), every);
      this.purger.unref();
    }
  }

  /** One background step: drop expired entries; after load, report that memory can go back. */
  purgeTick(): void {
    this.purgeStale(PURGE_BUDGET);
    const idle = this.puts === this.putsAtTick;
    this.putsAtTick = this.puts;
    if (idle && this.released >= IDLE_RELEASE_BYTES && this.onIdleRelease) {
      this.released = 0;
      this.onIdleRelease();
    }
  }

  /** Live entries: expired ones are dropped first (cheap: they are at the front). */
  get size(): number {
    this.purgeStale();
    return this.entries.size;
  }

  /** Entries held right now, expired ones not yet dropped included. */
  get held(): number {
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

  /**
   * Drops expired entries, at most `budget` of them; returns how many went. The `Map` holds
   * entries in the order they were recorded, which is the order they expire in, so this stops
   * at the first live one: the cost is the number dropped.
   */
  purgeStale(budget = Number.POSITIVE_INFINITY): number {
    const now = this.now();
    const before = this.bytes;
    let n = 0;
    for (const e of this.entries.values()) {
      if (n >= budget || !this.expired(e, now)) break;
      this.remove(e);
      n++;
    }
    this.released += before - this.bytes;
    return n;
  }

  clear(): void {
    this.entries.clear();
    this.head = this.tail = undefined;
    this.bytes = 0;
  }

  /** Stops the background purge. */
  close(): void {
    if (this.purger) clearInterval(this.purger);
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
    }
    const bytes = entryBytes(k, rec);
    // Full (by count or by bytes): least recently used entries go first (expired or not).
    while (this.head && (this.entries.size >= this.maxEntries || this.bytes + bytes > this.maxBytes))
      this.remove(this.head);
    const added: Entry = { key: k, rec, at: now, bytes, prev: undefined, next: undefined };
    this.entries.set(k, added);
    this.bytes += bytes;
    this.puts++;
    this.append(added);
  }

  private remove(e: Entry): void {
    this.entries.delete(e.key);
    this.bytes -= e.bytes;
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
