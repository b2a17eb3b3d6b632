/**
 * The system packages the tests use, and the vitest `globalSetup` that brings them: on a fresh
 * Debian machine, run as root, `pnpm test` installs every missing one with one `apt-get update` and
 * one `apt-get install` (quietly, output in a log file); otherwise it prints one line saying what is
 * missing and why it cannot install it. A test that needs a missing binary then fails with one line
 * from {@link requireBinary}. kubectl is not in this list: Debian does not ship it.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Binary → Debian package, and what needs it. */
export const SYSTEM_PACKAGES: readonly { bin: string; pkg: string; for: string }[] = [
  { bin: "nginx", pkg: "nginx", for: "benchmark peer" },
  { bin: "haproxy", pkg: "haproxy", for: "benchmark peer" },
  { bin: "ip", pkg: "iproute2", for: "pod-mode network namespaces" },
  { bin: "iptables-restore", pkg: "iptables", for: "pod-mode redirection" },
  { bin: "docker-compose", pkg: "docker-compose", for: "examples/bookinfo/docker-compose.yml" },
  { bin: "dnsmasq", pkg: "dnsmasq-base", for: "ServiceEntry DNS resolution against a real DNS server" },
  { bin: "prometheus", pkg: "prometheus", for: "PromQL queries over Lanecar's metrics" },
  { bin: "promtool", pkg: "prometheus", for: "metrics exposition checks" },
  { bin: "openssl", pkg: "openssl", for: "certificates for TLS tests" },
];

const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** Full path of `bin` on PATH (or in the sbin directories a non-root PATH may lack), or undefined. */
export function findBinary(bin: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(":").filter(Boolean).concat(SBIN);
  for (const d of dirs) {
    const p = join(d, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Throws the one line a test fails with when `bin` is missing. */
export function requireBinary(bin: string): string {
  const p = findBinary(bin);
  if (p) return p;
  const pkg = SYSTEM_PACKAGES.find((s) => s.bin === bin)?.pkg ?? bin;
  throw new Error(
    `${bin} is not installed: apt-get install -y ${pkg} (\`pnpm test\` installs it when run as root on Debian)`,
  );
}

/** Why packages cannot be installed here, or undefined when they can. */
function cannotInstall(env: NodeJS.ProcessEnv): string | undefined {
  if (env.LANECAR_NO_APT) return "LANECAR_NO_APT is set";
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not root";
  if (!findBinary("apt-get")) return "no apt-get (not Debian/Ubuntu)";
  return undefined;
}

/** Installs `pkgs` with apt-get; output goes to `log`. Services are not started (policy-rc.d). */
function aptInstall(pkgs: readonly string[], log: string): boolean {
  // Without an init system, postinst scripts would start nginx on :80, dnsmasq on :53... and tests
  // need those ports free; policy-rc.d 101 tells invoke-rc.d not to start anything.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const script =
      `exec >>'${log}' 2>&1; apt-get update -q && ` +
      `apt-get install -y -q --no-install-recommends ${pkgs.join(" ")}`;
    const r = spawnSync("sh", ["-c", script], { env, stdio: "ignore" });
    return r.status === 0;
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

/**
 * Makes sure every binary of `list` is there: installs the missing ones (root + apt-get), or says
 * in one line why it cannot. Returns the binaries still missing.
 */
export function ensureSystemPackages(
  list: readonly { bin: string; pkg: string }[] = SYSTEM_PACKAGES,
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = (l) => process.stderr.write(`[lanecar tests] ${l}\n`),
): string[] {
  const missing = list.filter((s) => !findBinary(s.bin));
  if (missing.length === 0) return [];
  const pkgs = [...new Set(missing.map((s) => s.pkg))];
  const why = cannotInstall(env);
  if (why) {
    say(
      `missing system packages: ${pkgs.join(" ")} (${why}, so not installing them); the tests that need them fail saying so`,
    );
    return missing.map((s) => s.bin);
  }
  const log = join(tmpdir(), "lanecar-apt.log");
  say(`installing missing system packages with apt-get: ${pkgs.join(" ")} (log: ${log})`);
  const started = Date.now();
  const ok = aptInstall(pkgs, log);
  const still = list.filter((s) => !findBinary(s.bin)).map((s) => s.bin);
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  if (ok && still.length === 0) say(`installed ${pkgs.join(" ")} in ${secs} s`);
  else
    say(
      `apt-get ${ok ? "finished" : "failed"} after ${secs} s; still missing: ${still.join(" ") || "none"} (see ${log})`,
    );
  return still;
}

/** vitest globalSetup: once per run, before any test file. */
export default function setup(): void {
  // vitest runs a global setup once per project: check (and install) only once per run.
  if (process.env.LANECAR_SYSTEM_PACKAGES_CHECKED) return;
  process.env.LANECAR_SYSTEM_PACKAGES_CHECKED = "1";
  ensureSystemPackages();
}
