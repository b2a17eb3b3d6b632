/**
 * The traffic-capture rules of a pod (what `lanecar iptables` installs from the `lanecar-init`
 * container, and what the pod-mode test lab installs): the `nat` table sends every inbound TCP
 * connection to the sidecar inbound port and every outbound one to the sidecar outbound port,
 * except the sidecar's own traffic (its UID/GID), loopback traffic of the app and the admin port.
 * Same shape as Istio's istio-iptables, with chains named `LANECAR_*`.
 *
 * Pure functions only: `captureRules` builds the rule lines for one address family and
 * `restoreScript` turns them, plus the current `iptables-save -t nat` text, into one
 * `iptables-restore --noflush` input that first removes whatever an earlier run installed, so
 * applying twice gives the same table and `--cleanup` leaves exactly what was there before.
 */

export type Family = 4 | 6;

export interface CaptureOptions {
  /** Sidecar inbound listener port (default 15006). */
  inboundPort: number;
  /** Sidecar outbound listener port (default 15001). */
  outboundPort: number;
  /** UID (and GID) the sidecar runs as; its own connections are never captured. */
  proxyUid: number;
  /** Admin port (15000): never captured, so kubelet's readiness probe reaches the sidecar. */
  adminPort: number;
  /** Outbound destinations to capture: `*` (all) or CIDRs. */
  includeOutboundCidrs: readonly string[];
  /** Outbound destinations never captured (win over the include list). */
  excludeOutboundCidrs: readonly string[];
  /** Outbound destination ports never captured (e.g. 443: TLS is not for an HTTP/1.1 sidecar). */
  excludeOutboundPorts: readonly number[];
  /** Inbound destination ports to capture: `*` (all) or ports. */
  includeInboundPorts: readonly (number | "*")[];
  /** Inbound destination ports never captured (win over the include list). */
  excludeInboundPorts: readonly number[];
}

export const CAPTURE_DEFAULTS: CaptureOptions = {
  inboundPort: 15006,
  outboundPort: 15001,
  proxyUid: 1337,
  adminPort: 15000,
  includeOutboundCidrs: ["*"],
  excludeOutboundCidrs: [],
  excludeOutboundPorts: [],
  includeInboundPorts: ["*"],
  excludeInboundPorts: [],
};

/** Our chains, in the order they are declared. */
export const CHAINS = [
  "LANECAR_INBOUND",
  "LANECAR_IN_REDIRECT",
  "LANECAR_OUTPUT",
  "LANECAR_REDIRECT",
] as const;

/** The two jumps from the built-in chains into ours. */
const JUMPS = ["-A PREROUTING -p tcp -j LANECAR_INBOUND", "-A OUTPUT -p tcp -j LANECAR_OUTPUT"];

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/;
const V6 = /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(?:\/(\d{1,3}))?$/;

/** The family of a CIDR (or bare address), or undefined when it is neither. */
export function cidrFamily(cidr: string): Family | undefined {
  const m4 = V4.exec(cidr);
  if (m4) {
    const ok = m4.slice(1, 5).every((o) => Number(o) <= 255) && (m4[5] === undefined || Number(m4[5]) <= 32);
    return ok ? 4 : undefined;
  }
  const m6 = V6.exec(cidr);
  if (m6 && (m6[1] === undefined || Number(m6[1]) <= 128) && cidr.split("::").length <= 2) return 6;
  return undefined;
}

/** Rule lines (iptables-restore syntax, no table header) for one family. */
export function captureRules(o: CaptureOptions, family: Family): string[] {
  const loopback = family === 4 ? "127.0.0.1/32" : "::1/128";
  const uid = String(o.proxyUid);
  const lines = CHAINS.map((c) => `:${c} - [0:0]`);
  const inbound: string[] = [];
  for (const port of [o.adminPort, ...o.excludeInboundPorts])
    inbound.push(`-A LANECAR_INBOUND -p tcp --dport ${port} -j RETURN`);
  lines.push(...new Set(inbound));
  if (o.includeInboundPorts.includes("*")) lines.push("-A LANECAR_INBOUND -p tcp -j LANECAR_IN_REDIRECT");
  else
    for (const port of new Set(o.includeInboundPorts))
      lines.push(`-A LANECAR_INBOUND -p tcp --dport ${port} -j LANECAR_IN_REDIRECT`);
  lines.push(`-A LANECAR_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${o.inboundPort}`);
  for (const owner of [`--uid-owner ${uid}`, `--gid-owner ${uid}`]) {
    // The sidecar calling its own pod IP (a probe of its own endpoint) goes through inbound, as
    // any other caller's request would; the app's loopback traffic is its own business.
    lines.push(`-A LANECAR_OUTPUT ! -d ${loopback} -o lo -m owner ${owner} -j LANECAR_IN_REDIRECT`);
    lines.push(`-A LANECAR_OUTPUT -o lo -m owner ! ${owner} -j RETURN`);
    lines.push(`-A LANECAR_OUTPUT -m owner ${owner} -j RETURN`);
  }
  lines.push(`-A LANECAR_OUTPUT -d ${loopback} -j RETURN`);
  for (const port of new Set(o.excludeOutboundPorts))
    lines.push(`-A LANECAR_OUTPUT -p tcp --dport ${port} -j RETURN`);
  for (const cidr of o.excludeOutboundCidrs)
    if (cidrFamily(cidr) === family) lines.push(`-A LANECAR_OUTPUT -d ${cidr} -j RETURN`);
  if (o.includeOutboundCidrs.includes("*")) lines.push("-A LANECAR_OUTPUT -j LANECAR_REDIRECT");
  else
    for (const cidr of o.includeOutboundCidrs)
      if (cidrFamily(cidr) === family) lines.push(`-A LANECAR_OUTPUT -d ${cidr} -j LANECAR_REDIRECT`);
  lines.push(`-A LANECAR_REDIRECT -p tcp -j REDIRECT --to-ports ${o.outboundPort}`);
  lines.push(...JUMPS);
  return lines;
}

/** What of ours `iptables-save -t nat` shows: the jump lines and the chains. */
export function installed(saved: string): { jumps: string[]; chains: string[] } {
  const jumps: string[] = [];
  const chains: string[] = [];
  for (const raw of saved.split("\n")) {
    const line = raw.trim();
    if (/^-A (PREROUTING|OUTPUT|INPUT|POSTROUTING) .*-j LANECAR_[A-Z_]+$/.test(line)) jumps.push(line);
    const m = /^:(LANECAR_[A-Z_]+) /.exec(line);
    if (m) chains.push(m[1]!);
  }
  return { jumps, chains };
}

/**
 * One `iptables-restore --noflush` input: remove what `saved` shows of ours, then (unless `rules`
 * is null, i.e. cleanup) install `rules`. Undefined when there is nothing to do (cleanup of a
 * table that holds nothing of ours).
 */
export function restoreScript(saved: string, rules: readonly string[] | null): string | undefined {
  const { jumps, chains } = installed(saved);
  if (rules === null && jumps.length === 0 && chains.length === 0) return undefined;
  const out = ["*nat", ...jumps.map((j) => `-D${j.slice(2)}`)];
  if (rules === null) {
    // Declaring a chain flushes it, so no rule references another when they are deleted.
    out.push(...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`));
  } else {
    const keep = new Set<string>(CHAINS);
    out.push(...chains.filter((c) => !keep.has(c)).map((c) => `:${c} - [0:0]`));
    out.push(...chains.filter((c) => !keep.has(c)).map((c) => `-X ${c}`));
    out.push(...rules);
  }
  out.push("COMMIT", "");
  return out.join("\n");
}

/** A whole nat table in iptables-restore format (for a fresh network namespace). */
export function natTable(o: CaptureOptions, family: Family): string {
  return restoreScript("", captureRules(o, family))!;
}
