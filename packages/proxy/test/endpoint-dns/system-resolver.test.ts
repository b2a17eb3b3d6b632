/**
 * Issue 12 item 2, the production path: the system resolver. In a network namespace of its own,
 * `ip netns exec` puts this test's resolv.conf (nameserver: a dnsmasq on the namespace's
 * loopback, 1 s TTL) and hosts file over /etc; a Node process there tracks one DNS name and one
 * /etc/hosts name with `SystemDnsSource` (getaddrinfo for addresses, resolve4 for the TTL). The
 * DNS name carries its TTL and follows a changed answer; the hosts name has no TTL.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBinary } from "../../../../test/support/system-packages.js";

const DIST = fileURLToPath(new URL("../../dist/endpoint-dns/index.js", import.meta.url));
const NS = `lcdns${randomBytes(3).toString("hex").slice(0, 5)}`;
const ETC = `/etc/netns/${NS}`;

/** The script the namespace's Node runs: one JSON line per change it sees. */
const SCRIPT = `
import { DnsEndpoints, SystemDnsSource } from ${JSON.stringify(DIST)};
const src = new SystemDnsSource();
const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const dns = await src.resolve("svc.lanecar.test");
const hosts = await src.resolve("hosts-only.lanecar.test");
out({ dns, hosts });
const d = new DnsEndpoints({ source: src, minRefreshMs: 100 });
d.setNames(new Map([["svc.lanecar.test", "DNS"]]));
let last = "";
const until = Date.now() + 15000;
while (Date.now() < until) {
  const a = d.addresses("svc.lanecar.test").map((x) => x.address).join(",");
  if (a !== last) { last = a; out({ now: a, resolutions: d.resolutions("svc.lanecar.test") }); }
  if (a === "10.9.0.2") break;
  await new Promise((r) => setTimeout(r, 50));
}
d.stop();
`;

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

describe("the system resolver in a namespace with its own resolv.conf (issue 12 item 2)", () => {
  let dir: string;
  let hostsFile: string;
  let dnsmasq: ChildProcess | undefined;

  beforeAll(async () => {
    requireBinary("ip");
    const bin = requireBinary("dnsmasq");
    if (process.getuid?.() !== 0) throw new Error("network namespaces need root: run this test as root");
    ip("netns", "add", NS);
    ip("-n", NS, "link", "set", "lo", "up");
    mkdirSync(ETC, { recursive: true });
    writeFileSync(join(ETC, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    writeFileSync(join(ETC, "hosts"), "127.0.0.1 localhost\n10.9.9.9 hosts-only.lanecar.test\n");
    dir = mkdtempSync(join(tmpdir(), "lanecar-sysdns-"));
    chmodSync(dir, 0o755);
    hostsFile = join(dir, "dns-hosts");
    writeFileSync(hostsFile, "10.9.0.1 svc.lanecar.test\n", { mode: 0o644 });
    dnsmasq = spawn(
      "ip",
      [
        "netns",
        "exec",
        NS,
        bin,
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        `--addn-hosts=${hostsFile}`,
        "--local-ttl=1",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--port=53",
        `--pid-file=${join(dir, "pid")}`,
        "--log-facility=-",
      ],
      { stdio: "ignore" },
    );
    // dnsmasq is up once it answers inside the namespace.
    const until = Date.now() + 10_000;
    for (;;) {
      try {
        const out = execFileSync(
          "ip",
          [
            "netns",
            "exec",
            NS,
            process.execPath,
            "-e",
            "require('dns').promises.resolve4('svc.lanecar.test').then((a)=>console.log(a[0]))",
          ],
          { encoding: "utf8", stdio: "pipe" },
        );
        if (out.trim() === "10.9.0.1") break;
      } catch {
        // not answering yet
      }
      if (Date.now() > until) throw new Error("dnsmasq did not answer in the namespace");
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(() => {
    dnsmasq?.kill("SIGTERM");
    try {
      ip("netns", "del", NS);
    } catch {
      // never created
    }
    rmSync(ETC, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a DNS name has the server's TTL and follows a changed answer; an /etc/hosts name has no TTL", async () => {
    const child = spawn("ip", ["netns", "exec", NS, process.execPath, "--input-type=module", "-e", SCRIPT], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: Record<string, unknown>[] = [];
    let err = "";
    child.stderr!.on("data", (c) => {
      err += c;
    });
    let buf = "";
    let changed = false;
    child.stdout!.on("data", (c) => {
      buf += c;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.now === "10.9.0.1" && !changed) {
          // Change the answer; dnsmasq re-reads its hosts files on SIGHUP.
          changed = true;
          writeFileSync(hostsFile, "10.9.0.2 svc.lanecar.test\n");
          // \`ip netns exec\` execs dnsmasq: the child is dnsmasq itself.
          dnsmasq!.kill("SIGHUP");
        }
        nl = buf.indexOf("\n");
      }
    });
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(code, err).toBe(0);
    expect(lines[0]).toEqual({
      dns: { addresses: [{ address: "10.9.0.1", family: 4 }], ttlSec: 1 },
      hosts: { addresses: [{ address: "10.9.9.9", family: 4 }] },
    });
    const seen = lines.slice(1).map((l) => l.now);
    expect(seen).toEqual(["10.9.0.1", "10.9.0.2"]);
    // The 1 s TTL paced the refreshes: a few, not a tight loop.
    expect(lines.at(-1)!.resolutions as number).toBeLessThan(30);
  });
});
