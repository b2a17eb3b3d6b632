/**
 * Where endpoint names get their addresses and TTLs. Production uses the system resolver: the
 * addresses from `dns.lookup` (getaddrinfo: /etc/hosts, nsswitch, search domains — what the app
 * itself would get), the TTL from `resolve4`/`resolve6` with `{ ttl: true }` when the name is in
 * DNS at all (a name only in /etc/hosts has no TTL and is refreshed at the default rate). Tests,
 * and operators who want named servers (`--dns-servers`), use {@link ServerDnsSource}: both from
 * the same servers' answers.
 */
import { promises as dns } from "node:dns";

export interface DnsAddress {
  address: string;
  family: 4 | 6;
}

export interface DnsAnswer {
  /** In the resolver's order; never empty (an empty answer is an error). */
  addresses: DnsAddress[];
  /** Smallest TTL of the records, in seconds; undefined when the source has none. */
  ttlSec: number | undefined;
}

export interface DnsSource {
  resolve(name: string): Promise<DnsAnswer>;
}

/** An error with a resolver code (`ENOTFOUND`, `ETIMEOUT`, ...), as `dns` rejects. */
function noAddress(name: string): Error {
  return Object.assign(new Error(`${name}: no address`), { code: "ENODATA" });
}

type TtlRecord = { address: string; ttl: number };

/** How long an answer from getaddrinfo waits for the TTL queries sent beside it. */
const TTL_GRACE_MS = 250;

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(resolve, ms, value).unref());
}

function minTtl(lists: readonly (readonly TtlRecord[] | undefined)[]): number | undefined {
  let min: number | undefined;
  for (const l of lists) for (const r of l ?? []) if (min === undefined || r.ttl < min) min = r.ttl;
  return min;
}

/** The system resolver: addresses from getaddrinfo, TTLs from the configured DNS servers. */
export class SystemDnsSource implements DnsSource {
  private readonly resolver = new dns.Resolver({ timeout: 2000, tries: 2 });

  async resolve(name: string): Promise<DnsAnswer> {
    const ttls = Promise.all([
      this.resolver.resolve4(name, { ttl: true }).catch(() => undefined),
      this.resolver.resolve6(name, { ttl: true }).catch(() => undefined),
    ]);
    const found = await dns.lookup(name, { all: true, order: "verbatim" });
    if (found.length === 0) throw noAddress(name);
    // The addresses do not wait for a slow or unreachable DNS server: without its TTLs by then,
    // this answer gets the default refresh.
    const [a, aaaa] = await Promise.race([ttls, delay(TTL_GRACE_MS, [undefined, undefined] as const)]);
    const addresses = found.map(
      (f) => ({ address: f.address, family: f.family === 6 ? 6 : 4 }) as DnsAddress,
    );
    // A TTL counts only when DNS answered with the addresses getaddrinfo gave (not an /etc/hosts entry).
    const inDns = new Set([...(a ?? []), ...(aaaa ?? [])].map((r) => r.address));
    const ttlSec = addresses.some((x) => inDns.has(x.address)) ? minTtl([a, aaaa]) : undefined;
    return { addresses, ttlSec };
  }
}

/** Named DNS servers (`host:port` or `[v6]:port`), queried directly: A then AAAA, with TTLs. */
export class ServerDnsSource implements DnsSource {
  private readonly resolver: InstanceType<typeof dns.Resolver>;

  constructor(servers: readonly string[]) {
    this.resolver = new dns.Resolver({ timeout: 1000, tries: 2 });
    this.resolver.setServers([...servers]);
  }

  async resolve(name: string): Promise<DnsAnswer> {
    const [a, aaaa] = await Promise.allSettled([
      this.resolver.resolve4(name, { ttl: true }),
      this.resolver.resolve6(name, { ttl: true }),
    ]);
    const v4 = a.status === "fulfilled" ? a.value : undefined;
    const v6 = aaaa.status === "fulfilled" ? aaaa.value : undefined;
    const addresses: DnsAddress[] = [
      ...(v4 ?? []).map((r) => ({ address: r.address, family: 4 as const })),
      ...(v6 ?? []).map((r) => ({ address: r.address, family: 6 as const })),
    ];
    if (addresses.length === 0) {
      if (a.status === "rejected") throw a.reason;
      throw noAddress(name);
    }
    return { addresses, ttlSec: minTtl([v4, v6]) };
  }
}
