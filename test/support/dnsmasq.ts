/**
 * A real DNS server for tests: Debian's dnsmasq on a loopback port, answering only from a hosts
 * file the test writes (`--no-resolv --no-hosts`), with a short TTL. `set` rewrites the file and
 * sends SIGHUP, which makes dnsmasq re-read it, so a test can change an answer.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { requireBinary } from "./system-packages.js";

export interface Dnsmasq {
  /** `127.0.0.1:PORT`, for `dns.Resolver#setServers` or `--dns-servers`. */
  server: string;
  /** Answers: name → addresses. Replaces the whole table and waits until dnsmasq serves it. */
  set(table: Record<string, string[]>): Promise<void>;
  stop(): Promise<void>;
}

function hostsFile(table: Record<string, string[]>): string {
  return Object.entries(table)
    .flatMap(([name, addrs]) => addrs.map((a) => `${a} ${name}\n`))
    .join("");
}

export async function startDnsmasq(table: Record<string, string[]>, ttlSec = 1): Promise<Dnsmasq> {
  const bin = requireBinary("dnsmasq");
  const dir = mkdtempSync(join(tmpdir(), "lanecar-dns-"));
  // dnsmasq drops privileges to nobody before re-reading the file on SIGHUP.
  chmodSync(dir, 0o755);
  const file = join(dir, "hosts");
  writeFileSync(file, hostsFile(table), { mode: 0o644 });
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    [
      "--keep-in-foreground",
      "--conf-file=/dev/null",
      "--no-resolv",
      "--no-hosts",
      `--addn-hosts=${file}`,
      `--local-ttl=${ttlSec}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      `--port=${port}`,
      `--pid-file=${join(dir, "pid")}`,
      "--log-facility=-",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (c) => {
    err += c.toString();
  });
  const server = `127.0.0.1:${port}`;
  const { promises: dns } = await import("node:dns");
  const probe = new dns.Resolver({ timeout: 200, tries: 1 });
  probe.setServers([server]);
  /** Waits until dnsmasq answers `name` with exactly `want` (sorted), or fails after 10 s. */
  const until = async (name: string | undefined, want: string[]) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${err}`);
      const got = name
        ? await probe.resolve4(name).then(
            (a) => a.sort(),
            () => [],
          )
        : want;
      if (JSON.stringify(got) === JSON.stringify(want)) return;
      if (Date.now() > deadline) throw new Error(`dnsmasq on ${server} does not answer ${name}: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const first = Object.entries(table).find(([, a]) => a.some((x) => x.includes(".")));
  await until(first?.[0], (first?.[1] ?? []).filter((x) => x.includes(".")).sort());
  return {
    server,
    set: async (next) => {
      writeFileSync(file, hostsFile(next));
      child.kill("SIGHUP");
      for (const [name, addrs] of Object.entries(next))
        await until(name, addrs.filter((x) => x.includes(".")).sort());
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
