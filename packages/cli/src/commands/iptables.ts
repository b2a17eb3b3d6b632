/**
 * `lanecar iptables`: installs (or, with `--cleanup`, removes) the pod's capture rules
 * (kube/capture-rules.ts) for IPv4 and IPv6, the job of the `lanecar-init` container. It reads
 * the current nat table with `iptables-save` and applies one `iptables-restore --noflush` input
 * per family, so each family changes atomically and running it twice changes nothing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { all, bool, type FlagSpec, one, type ParsedArgs, parseArgs, UsageError, usage } from "../args.js";
import type { Io } from "../io.js";
import {
  CAPTURE_DEFAULTS,
  type CaptureOptions,
  captureRules,
  cidrFamily,
  type Family,
  restoreScript,
} from "../kube/capture-rules.js";

const FLAGS: FlagSpec[] = [
  { name: "inbound-port", default: String(CAPTURE_DEFAULTS.inboundPort), help: "sidecar inbound port" },
  { name: "outbound-port", default: String(CAPTURE_DEFAULTS.outboundPort), help: "sidecar outbound port" },
  {
    name: "proxy-uid",
    default: String(CAPTURE_DEFAULTS.proxyUid),
    help: "UID and GID of the sidecar, whose traffic is never captured",
  },
  { name: "admin-port", default: String(CAPTURE_DEFAULTS.adminPort), help: "admin port, never captured" },
  {
    name: "include-outbound-cidrs",
    multiple: true,
    help: "outbound destinations to capture, comma-separated CIDRs or * (default *)",
  },
  { name: "exclude-outbound-cidrs", multiple: true, help: "outbound destinations never captured" },
  { name: "exclude-outbound-ports", multiple: true, help: "outbound destination ports never captured" },
  {
    name: "include-inbound-ports",
    multiple: true,
    help: "inbound ports to capture, comma-separated or * (default *)",
  },
  { name: "exclude-inbound-ports", multiple: true, help: "inbound ports never captured" },
  { name: "cleanup", boolean: true, help: "remove the rules instead" },
  { name: "dry-run", boolean: true, help: "print the iptables-restore input instead of applying it" },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

function port(a: ParsedArgs, name: string, v = one(a, name)!): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535)
    throw new UsageError(`--${name} "${v}" is not a port (1-65535)`);
  return Number(v);
}

function list(a: ParsedArgs, name: string): string[] {
  return all(a, name)
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
}

export function captureOptions(a: ParsedArgs): CaptureOptions {
  const uid = one(a, "proxy-uid")!;
  if (!/^\d+$/.test(uid)) throw new UsageError(`--proxy-uid "${uid}" is not a number`);
  const include = list(a, "include-outbound-cidrs");
  const exclude = list(a, "exclude-outbound-cidrs");
  for (const [flag, cidrs] of [
    ["include-outbound-cidrs", include.filter((c) => c !== "*")],
    ["exclude-outbound-cidrs", exclude],
  ] as const)
    for (const c of cidrs)
      if (!cidrFamily(c)) throw new UsageError(`--${flag} "${c}" is not an IPv4 or IPv6 CIDR`);
  const inboundPorts = list(a, "include-inbound-ports").map((p) =>
    p === "*" ? ("*" as const) : port(a, "include-inbound-ports", p),
  );
  return {
    inboundPort: port(a, "inbound-port"),
    outboundPort: port(a, "outbound-port"),
    proxyUid: Number(uid),
    adminPort: port(a, "admin-port"),
    includeOutboundCidrs: include.length > 0 ? include : ["*"],
    excludeOutboundCidrs: exclude,
    excludeOutboundPorts: list(a, "exclude-outbound-ports").map((p) => port(a, "exclude-outbound-ports", p)),
    includeInboundPorts: inboundPorts.length > 0 ? inboundPorts : ["*"],
    excludeInboundPorts: list(a, "exclude-inbound-ports").map((p) => port(a, "exclude-inbound-ports", p)),
  };
}

/** IPv6 is on in this network namespace (the kernel lists IPv6 addresses and it is not disabled). */
function ipv6Enabled(): boolean {
  if (!existsSync("/proc/net/if_inet6")) return false;
  try {
    return readFileSync("/proc/sys/net/ipv6/conf/all/disable_ipv6", "utf8").trim() !== "1";
  } catch {
    return true;
  }
}

function exec(cmd: string, args: string[], input?: string): { ok: boolean; out: string; why: string } {
  const r = spawnSync(cmd, args, { input, encoding: "utf8", timeout: 30_000 });
  if (r.error) return { ok: false, out: "", why: `${cmd}: ${r.error.message}` };
  const why = `${cmd} exited ${r.status}: ${(r.stderr || r.stdout).trim().split("\n")[0]}`;
  return { ok: r.status === 0, out: r.stdout, why };
}

export async function iptablesCommand(argv: string[], io: Io): Promise<number> {
  const a = parseArgs(argv, FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(usage("iptables", "[flags]", FLAGS));
    return 0;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const o = captureOptions(a);
  const cleanup = bool(a, "cleanup");
  const families: Family[] = ipv6Enabled() ? [4, 6] : [4];
  for (const family of families) {
    const bin = family === 4 ? "iptables" : "ip6tables";
    const rules = cleanup ? null : captureRules(o, family);
    if (bool(a, "dry-run")) {
      io.out(`# ${bin}-restore --noflush`);
      io.out(restoreScript("", rules) ?? "# nothing to remove");
      continue;
    }
    const saved = exec(`${bin}-save`, ["-t", "nat"]);
    if (!saved.ok) {
      io.err(`lanecar iptables: cannot read the nat table: ${saved.why}`);
      return 1;
    }
    const script = restoreScript(saved.out, rules);
    if (script === undefined) continue;
    const applied = exec(`${bin}-restore`, ["--noflush"], script);
    if (!applied.ok) {
      io.err(`lanecar iptables: ${applied.why}`);
      return 1;
    }
  }
  const v = families.map((f) => (f === 4 ? "IPv4" : "IPv6")).join("+");
  io.out(
    cleanup
      ? `lanecar iptables: capture rules removed (${v})`
      : `lanecar iptables: inbound -> ${o.inboundPort}, outbound -> ${o.outboundPort}, uid ${o.proxyUid} and port ${o.adminPort} exempt (${v})`,
  );
  return 0;
}
