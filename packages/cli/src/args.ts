/**
 * Flag parsing for every `lanecar` command: `--flag value`, `--flag=value`, repeated flags, short
 * aliases, and an environment variable for each flag (`--pod-labels` ↔ `LANECAR_POD_LABELS`).
 * Flags on the command line win over the environment.
 */

export interface FlagSpec {
  /** Long name without dashes, e.g. `pod-labels`. */
  name: string;
  short?: string;
  /** Takes no value. */
  boolean?: boolean;
  /** May be given several times (and, from the environment, comma- or space-separated). */
  multiple?: boolean;
  default?: string;
  help: string;
}

export class UsageError extends Error {
  readonly code = "LANECAR_USAGE";
}

export interface ParsedArgs {
  flags: Map<string, string[]>;
  positionals: string[];
}

export function envName(flag: string): string {
  return `LANECAR_${flag.toUpperCase().replace(/-/g, "_")}`;
}

export function parseArgs(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq >= 0 ? a.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec) throw new UsageError(`unknown flag --${name}`);
    } else if (a.startsWith("-") && a.length > 1) {
      spec = byShort.get(a.slice(1));
      if (!spec) throw new UsageError(`unknown flag ${a}`);
    } else {
      positionals.push(a);
      continue;
    }
    let value: string;
    if (spec.boolean) {
      if (inline !== undefined && !["true", "false"].includes(inline))
        throw new UsageError(`--${spec.name} takes no value`);
      value = inline ?? "true";
    } else if (inline !== undefined) value = inline;
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`--${spec.name} needs a value`);
      value = next;
      i++;
    }
    const list = flags.get(spec.name) ?? [];
    if (!spec.multiple && list.length > 0) throw new UsageError(`--${spec.name} given twice`);
    list.push(value);
    flags.set(spec.name, list);
  }
  for (const s of specs) {
    if (flags.has(s.name)) continue;
    const fromEnv = env[envName(s.name)];
    if (fromEnv !== undefined && fromEnv !== "") {
      flags.set(
        s.name,
        s.multiple && !s.name.startsWith("header") ? fromEnv.split(/[\s,]+/).filter(Boolean) : [fromEnv],
      );
    } else if (s.default !== undefined) flags.set(s.name, [s.default]);
  }
  return { flags, positionals };
}

export function one(a: ParsedArgs, name: string): string | undefined {
  return a.flags.get(name)?.[0];
}

export function all(a: ParsedArgs, name: string): string[] {
  return a.flags.get(name) ?? [];
}

/** True for `--flag`, or `true`/`1`/`yes`/`on` (any case) from the flag or its environment variable. */
export function bool(a: ParsedArgs, name: string): boolean {
  const v = one(a, name)?.toLowerCase();
  return v === "true" || v === "1" || v === "yes" || v === "on";
}

export function usage(command: string, synopsis: string, specs: readonly FlagSpec[]): string {
  const lines = [`usage: lanecar ${command} ${synopsis}`, ""];
  for (const s of specs) {
    const left = `  ${s.short ? `-${s.short}, ` : ""}--${s.name}${s.boolean ? "" : " VALUE"}`;
    const def = s.default !== undefined ? ` (default ${s.default})` : "";
    lines.push(`${left.padEnd(30)} ${s.help}${def}  [${envName(s.name)}]`);
  }
  return lines.join("\n");
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `--namespace`, checked as a Kubernetes namespace name (a usage error, not a config error). */
export function namespaceFlag(a: ParsedArgs): string {
  const ns = one(a, "namespace") ?? "default";
  if (!NAMESPACE.test(ns))
    throw new UsageError(`--namespace "${ns}" is not a valid namespace (lower-case DNS label)`);
  return ns;
}

const LISTEN = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/;

/**
 * A listener flag (`--inbound 0.0.0.0:15006`): `host:port` or `[v6]:port`, port 0-65535 (0 asks
 * the system for a free port). Checked here so a typo is one usage line, not a failure at start.
 */
export function listenFlag(a: ParsedArgs, name: string): string {
  const v = one(a, name) ?? "";
  const m = LISTEN.exec(v.trim());
  if (!m) throw new UsageError(`--${name} "${v}" is not host:port (e.g. 127.0.0.1:15001 or [::1]:15001)`);
  const port = Number(m[3]);
  if (!Number.isSafeInteger(port) || port > 65535)
    throw new UsageError(`--${name} "${v}": port ${m[3]} is out of range (0-65535)`);
  return v.trim();
}

/** An upstream URL flag (`--app http://127.0.0.1:8080`): http only, a valid host and port. */
export function httpUrlFlag(a: ParsedArgs, name: string): string {
  const v = one(a, name) ?? "";
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    // `new URL` also refuses ports above 65535, with no reason of its own.
    const port = /:(\d+)(?:\/|$)/.exec(v)?.[1];
    if (port !== undefined && Number(port) > 65535)
      throw new UsageError(`--${name} "${v}": port ${port} is out of range (1-65535)`);
    throw new UsageError(`--${name} "${v}" is not a URL such as http://127.0.0.1:8080`);
  }
  if (u.protocol !== "http:") throw new UsageError(`--${name} "${v}": only http:// is supported`);
  if (!u.hostname) throw new UsageError(`--${name} "${v}" has no host`);
  if (u.port === "0") throw new UsageError(`--${name} "${v}": port 0 is not a port to connect to`);
  return v;
}
