/**
 * Endpoint names of `resolution: DNS` / `DNS_ROUND_ROBIN` ServiceEntries, resolved by the proxy
 * and re-resolved when their TTL runs out (clamped to [minRefreshMs, maxRefreshMs]; a source
 * without TTLs is refreshed every defaultRefreshMs, Envoy's `dns_refresh_rate`). The upstream
 * connections get their address through {@link DnsEndpoints.lookup}, a `net.connect` lookup:
 *
 * - `DNS` (Envoy STRICT_DNS): every address of the answer is used, new connections in turn; when
 *   the answer changes, `onChange` lets the owner retire the name's connections (kept-alive
 *   connections to an address no longer in the answer are not reused).
 * - `DNS_ROUND_ROBIN` (Envoy LOGICAL_DNS): new connections go to the first address of the latest
 *   answer; existing connections are kept.
 *
 * A failed refresh keeps the last good answer (as Envoy). Names not tracked here (NONE, or
 * STATIC names) fall through to `dns.lookup` on every connection. Timers are unref'd.
 */
import { lookup as systemLookup } from "node:dns";
import type { LookupFunction } from "node:net";
import type { DnsResolution } from "@lanecar/core";
import type { DnsAddress, DnsAnswer, DnsSource } from "./dns-source.js";

export interface DnsEndpointsOptions {
  source: DnsSource;
  /** Called when the addresses of a `DNS` name change (not on the first answer). */
  onChange?: (name: string) => void;
  minRefreshMs?: number;
  maxRefreshMs?: number;
  defaultRefreshMs?: number;
}

type Waiter = (err: (Error & { code?: string }) | null) => void;

interface NameState {
  mode: DnsResolution;
  addresses: DnsAddress[];
  /** Next address for a new connection (DNS mode). */
  next: number;
  /** Last resolution error while there is no good answer yet. */
  error: (Error & { code?: string }) | undefined;
  /** Connections waiting for the first answer. */
  waiters: Waiter[];
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
  /** Resolutions done (answers and failures), for tests and the admin view. */
  resolutions: number;
}

function sameAddresses(a: readonly DnsAddress[], b: readonly DnsAddress[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a.map((x) => x.address));
  return b.every((x) => set.has(x.address));
}

export class DnsEndpoints {
  private readonly names = new Map<string, NameState>();
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly defaultMs: number;

  constructor(private readonly opts: DnsEndpointsOptions) {
    this.minMs = opts.minRefreshMs ?? 1000;
    this.maxMs = opts.maxRefreshMs ?? 300_000;
    this.defaultMs = opts.defaultRefreshMs ?? 5000;
  }

  /** Tracks exactly these names (a config snapshot's `registry.dnsNames()`). */
  setNames(names: ReadonlyMap<string, DnsResolution>): void {
    for (const [name, st] of this.names) {
      if (names.has(name)) continue;
      this.drop(name, st);
    }
    for (const [name, mode] of names) {
      const st = this.names.get(name);
      if (st) st.mode = mode;
      else this.track(name, mode);
    }
  }

  /** The current answer of a tracked name (empty before the first one). */
  addresses(name: string): readonly DnsAddress[] {
    return this.names.get(name)?.addresses ?? [];
  }

  /** Resolutions done for a tracked name so far. */
  resolutions(name: string): number {
    return this.names.get(name)?.resolutions ?? 0;
  }

  stop(): void {
    for (const [name, st] of this.names) this.drop(name, st);
  }

  /** A `net.connect` lookup: tracked names from their answer, others through `dns.lookup`. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const st = this.names.get(hostname);
    if (!st) {
      systemLookup(hostname, options, callback as never);
      return;
    }
    if (st.addresses.length > 0) {
      this.answer(st, options.all === true, callback);
      return;
    }
    if (st.error) {
      // No good answer yet and the last try failed: fail now (the next refresh may fix it).
      callback(
        Object.assign(new Error(`cannot resolve ${hostname}: ${st.error.code ?? st.error.message}`), {
          code: st.error.code ?? "ENOTFOUND",
        }),
        "",
        0,
      );
      return;
    }
    st.waiters.push((err) => {
      if (err) callback(err, "", 0);
      else this.answer(st, options.all === true, callback);
    });
  };

  private answer(st: NameState, all: boolean, callback: Parameters<LookupFunction>[2]): void {
    const list = st.addresses;
    let i = 0;
    if (st.mode === "DNS") {
      i = st.next % list.length;
      st.next = i + 1;
    }
    const picked = list[i]!;
    if (!all) {
      callback(null, picked.address, picked.family);
      return;
    }
    // `all` (autoSelectFamily): the chosen address first, the rest as alternatives.
    const rotated = [...list.slice(i), ...list.slice(0, i)];
    (callback as unknown as (e: null, a: DnsAddress[]) => void)(null, rotated);
  }

  private track(name: string, mode: DnsResolution): void {
    const st: NameState = {
      mode,
      addresses: [],
      next: 0,
      error: undefined,
      waiters: [],
      timer: undefined,
      stopped: false,
      resolutions: 0,
    };
    this.names.set(name, st);
    this.refresh(name, st);
  }

  private drop(name: string, st: NameState): void {
    st.stopped = true;
    if (st.timer) clearTimeout(st.timer);
    this.names.delete(name);
    const err = Object.assign(new Error(`${name}: no longer in config`), { code: "ENOTFOUND" });
    for (const w of st.waiters.splice(0)) w(err);
  }

  private refresh(name: string, st: NameState): void {
    st.timer = undefined;
    this.opts.source.resolve(name).then(
      (a) => this.resolved(name, st, a),
      (e: Error & { code?: string }) => this.failed(name, st, e),
    );
  }

  private resolved(name: string, st: NameState, a: DnsAnswer): void {
    if (st.stopped) return;
    st.resolutions++;
    const changed = st.addresses.length > 0 && !sameAddresses(st.addresses, a.addresses);
    st.addresses = a.addresses;
    st.error = undefined;
    const ms = a.ttlSec === undefined ? this.defaultMs : a.ttlSec * 1000;
    this.schedule(name, st, Math.min(this.maxMs, Math.max(this.minMs, ms)));
    for (const w of st.waiters.splice(0)) w(null);
    if (changed && st.mode === "DNS") this.opts.onChange?.(name);
  }

  private failed(name: string, st: NameState, e: Error & { code?: string }): void {
    if (st.stopped) return;
    st.resolutions++;
    // Keep the last good answer; without one, waiting connections fail now.
    if (st.addresses.length === 0) {
      st.error = e;
      const err = Object.assign(new Error(`cannot resolve ${name}: ${e.code ?? e.message}`), {
        code: e.code ?? "ENOTFOUND",
      });
      for (const w of st.waiters.splice(0)) w(err);
    }
    this.schedule(name, st, Math.max(this.minMs, Math.min(this.defaultMs, this.maxMs)));
  }

  private schedule(name: string, st: NameState, ms: number): void {
    st.timer = setTimeout(() => this.refresh(name, st), ms);
    st.timer.unref();
  }
}
