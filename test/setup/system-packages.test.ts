/**
 * Issue 12 item 11: `pnpm test` brings the system packages the tests need (vitest globalSetup,
 * test/support/system-packages.ts), or says in one line why it cannot; a test needing a missing
 * binary fails with one line.
 */
import { describe, expect, it } from "vitest";
import {
  ensureSystemPackages,
  findBinary,
  requireBinary,
  SYSTEM_PACKAGES,
} from "../support/system-packages.js";

describe("system packages for the tests (issue 12 item 11)", () => {
  it("after the global setup every package the tests use is installed", () => {
    const lines: string[] = [];
    const missing = ensureSystemPackages(SYSTEM_PACKAGES, { ...process.env, LANECAR_NO_APT: "1" }, (l) =>
      lines.push(l),
    );
    expect(missing, lines.join("\n")).toEqual([]);
    expect(lines).toEqual([]);
  });

  it("covers what the suites spawn: nginx, haproxy, ip, iptables, docker-compose, dnsmasq, prometheus, promtool, openssl", () => {
    expect(SYSTEM_PACKAGES.map((s) => s.bin).sort()).toEqual(
      [
        "dnsmasq",
        "docker-compose",
        "haproxy",
        "iptables-restore",
        "ip",
        "nginx",
        "openssl",
        "prometheus",
        "promtool",
      ].sort(),
    );
  });

  it("when it cannot install, it says so in one line and names the packages", () => {
    const lines: string[] = [];
    const missing = ensureSystemPackages(
      [
        { bin: "lanecar-absent-tool", pkg: "lanecar-absent-pkg" },
        { bin: "sh", pkg: "dash" },
      ],
      { LANECAR_NO_APT: "1" },
      (l) => lines.push(l),
    );
    expect(missing).toEqual(["lanecar-absent-tool"]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^missing system packages: lanecar-absent-pkg \(LANECAR_NO_APT is set, so not installing them\)/,
    );
  });

  it("a test needing a missing binary fails with one line saying how to get it", () => {
    expect(() => requireBinary("lanecar-absent-tool")).toThrow(
      /^lanecar-absent-tool is not installed: apt-get install -y lanecar-absent-tool \(`pnpm test` installs it when run as root on Debian\)$/,
    );
    expect(requireBinary("sh")).toBe(findBinary("sh"));
    // sbin directories count even when PATH lacks them (a non-root PATH).
    expect(findBinary("apt-get") ?? findBinary("sh")).toBeDefined();
  });
});
