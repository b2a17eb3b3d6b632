/**
 * Per-pod capture settings of an injected pod, from its annotations (as Istio's
 * `traffic.sidecar.istio.io/*`), turned into the `lanecar iptables` arguments of its
 * `lanecar-init` container. Values are checked here, at injection, so a typo is reported to
 * whoever applies the pod instead of leaving it stuck in `Init:CrashLoopBackOff`.
 */
import { cidrFamily } from "./capture-rules.js";

export const CAPTURE_ANNOTATIONS = {
  includeInboundPorts: "lanecar.io/include-inbound-ports",
  excludeInboundPorts: "lanecar.io/exclude-inbound-ports",
  includeOutboundCidrs: "lanecar.io/include-outbound-cidrs",
  excludeOutboundCidrs: "lanecar.io/exclude-outbound-cidrs",
  excludeOutboundPorts: "lanecar.io/exclude-outbound-ports",
} as const;

/** TLS on 443 cannot go through an HTTP/1.1 sidecar: it goes out directly unless the pod says otherwise. */
export const DEFAULT_EXCLUDED_OUTBOUND_PORTS = "443";

type Kind = "ports" | "cidrs";

const FLAGS: [keyof typeof CAPTURE_ANNOTATIONS, string, Kind, boolean][] = [
  ["includeInboundPorts", "--include-inbound-ports", "ports", true],
  ["excludeInboundPorts", "--exclude-inbound-ports", "ports", false],
  ["includeOutboundCidrs", "--include-outbound-cidrs", "cidrs", true],
  ["excludeOutboundCidrs", "--exclude-outbound-cidrs", "cidrs", false],
  ["excludeOutboundPorts", "--exclude-outbound-ports", "ports", false],
];

function valid(item: string, kind: Kind, star: boolean): boolean {
  if (star && item === "*") return true;
  if (kind === "cidrs") return cidrFamily(item) !== undefined;
  return /^\d{1,5}$/.test(item) && Number(item) >= 1 && Number(item) <= 65535;
}

/**
 * The capture arguments for a pod whose app listens on `appPort`, or an error naming the
 * annotation that is not a list of ports / CIDRs.
 */
export function captureArgs(
  annotations: Readonly<Record<string, unknown>>,
  appPort: number,
): { args: string[] } | { error: string } {
  const defaults: Partial<Record<keyof typeof CAPTURE_ANNOTATIONS, string>> = {
    // Only the app's port: the sidecar forwards everything it receives to that one port, so
    // any other port (a metrics or health port, say) must reach the app directly.
    includeInboundPorts: String(appPort),
    excludeOutboundPorts: DEFAULT_EXCLUDED_OUTBOUND_PORTS,
  };
  const args: string[] = [];
  for (const [key, flag, kind, star] of FLAGS) {
    const name = CAPTURE_ANNOTATIONS[key];
    const raw = annotations[name];
    const value = typeof raw === "string" ? raw : defaults[key];
    if (value === undefined) continue;
    const items = value
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean);
    const bad = items.find((i) => !valid(i, kind, star));
    if (bad !== undefined)
      return { error: `annotation ${name}: "${bad}" is not ${kind === "ports" ? "a port" : "a CIDR"}` };
    if (items.length > 0) args.push(flag, items.join(","));
  }
  return { args };
}
