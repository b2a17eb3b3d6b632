/**
 * Host names as Istio reads them: a short name (`reviews`) means `reviews.<ns>.svc.cluster.local`;
 * requests may also say `reviews.<ns>`, `reviews.<ns>.svc`, or the FQDN, with or without a port.
 */
export const CLUSTER_DOMAIN = "cluster.local";

/** Config host → FQDN (only names without a dot are expanded, as Istio does). */
export function fqdn(host: string, namespace: string): string {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (h === "*" || h.startsWith("*.") || h.includes(".")) return h;
  return `${h}.${namespace}.svc.${CLUSTER_DOMAIN}`;
}

/** Splits `host[:port]` (IPv6 in brackets allowed). Port is undefined when absent or invalid. */
export function splitAuthority(authority: string): { host: string; port: number | undefined } {
  let host = authority;
  let port: number | undefined;
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    const rest = end >= 0 ? host.slice(end + 1) : "";
    host = end >= 0 ? host.slice(1, end) : host;
    if (rest.startsWith(":")) port = toPort(rest.slice(1));
    return { host: host.toLowerCase(), port };
  }
  const colon = host.lastIndexOf(":");
  if (colon >= 0 && host.indexOf(":") === colon) {
    port = toPort(host.slice(colon + 1));
    host = host.slice(0, colon);
  }
  return { host: host.toLowerCase().replace(/\.$/, ""), port };
}

function toPort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** The FQDNs a request host may stand for in `namespace`, most specific first. */
export function requestHostCandidates(host: string, namespace: string): string[] {
  const h = host.toLowerCase();
  // An IPv6 literal (`::1`, from `[::1]:9080`) is an address, never a short service name.
  if (h.includes(":")) return [h];
  if (!h.includes(".")) return [`${h}.${namespace}.svc.${CLUSTER_DOMAIN}`];
  const parts = h.split(".");
  if (parts.length === 2) return [h, `${h}.svc.${CLUSTER_DOMAIN}`];
  if (parts.length === 3 && parts[2] === "svc") return [h, `${h}.${CLUSTER_DOMAIN}`];
  return [h];
}

/** Does `pattern` (exact, `*.suffix`, or `*`) cover `host`? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/**
 * Lookup table keyed by host pattern: exact hosts by map, then wildcard suffixes longest first,
 * then `*` — the order Envoy's virtual host selection uses.
 */
export class HostIndex<T> {
  private readonly exact = new Map<string, T>();
  private wildcards: [string, T][] = [];
  private any: T | undefined;

  set(pattern: string, value: T): void {
    if (pattern === "*") this.any ??= value;
    else if (pattern.startsWith("*.")) {
      // Stored without the `*`: compare suffix to suffix, so a repeated pattern keeps the first value.
      if (!this.wildcards.some(([p]) => p === pattern.slice(1))) {
        this.wildcards.push([pattern.slice(1), value]);
        this.wildcards.sort((a, b) => b[0].length - a[0].length);
      }
    } else if (!this.exact.has(pattern)) this.exact.set(pattern, value);
  }

  has(pattern: string): boolean {
    return this.exact.has(pattern);
  }

  get(host: string): T | undefined {
    const e = this.exact.get(host);
    if (e !== undefined) return e;
    for (const [suffix, v] of this.wildcards) if (host.endsWith(suffix)) return v;
    return this.any;
  }

  values(): T[] {
    const out = [...this.exact.values(), ...this.wildcards.map(([, v]) => v)];
    if (this.any !== undefined) out.push(this.any);
    return out;
  }
}
