/**
 * Every bad command-line input is one clear line on stderr and a non-zero exit, never a stack
 * trace: the real `lanecar` binary (dist/, a separate Node process), as a user runs it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { fixture } from "./run.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BIN = fileURLToPath(new URL("../bin/lanecar.js", import.meta.url));
const ASM = fixture("asm");

beforeAll(() => {
  execFileSync(`${ROOT}node_modules/.bin/tsc`, ["-b", "packages/cli"], { cwd: ROOT, stdio: "pipe" });
}, 180_000);

const SIDECAR = ["sidecar", "--config", ASM, "--service", "reviews"];
const EXPLAIN = ["explain", "--config", ASM];

const cases: [string[], RegExp][] = [
  [[...SIDECAR, "--inbound", "127.0.0.1:notaport"], /--inbound "127\.0\.0\.1:notaport" is not host:port/],
  [
    [...SIDECAR, "--inbound", "127.0.0.1:99999"],
    /--inbound "127\.0\.0\.1:99999": port 99999 is out of range/,
  ],
  [[...SIDECAR, "--outbound", "nohostport"], /--outbound "nohostport" is not host:port/],
  [[...SIDECAR, "--admin", "[::1:15000"], /--admin "\[::1:15000" is not host:port/],
  [[...SIDECAR, "--app", "notaurl"], /--app "notaurl" is not a URL/],
  [
    [...SIDECAR, "--app", "http://127.0.0.1:99999"],
    /--app "http:\/\/127\.0\.0\.1:99999": port 99999 is out of range/,
  ],
  [[...SIDECAR, "--app", "ftp://127.0.0.1/"], /only http:\/\/ is supported/],
  [[...SIDECAR, "--pod-labels", "=b"], /pod label "=b" is not/],
  [[...SIDECAR, "--drain-timeout", "xyz"], /--drain-timeout "xyz" is not a duration/],
  [[...SIDECAR, "--correlation-ttl", "0"], /--correlation-ttl "0" must be longer than 0/],
  [[...SIDECAR, "--correlation-max-entries", "-5"], /not a positive integer/],
  [
    ["gateway", "--config", ASM, "--listen", "127.0.0.1:70000"],
    /--listen "127\.0\.0\.1:70000": port 70000 is out of range/,
  ],
  [
    ["gateway", "--config", ASM, "--listen-https", "127.0.0.1:70000"],
    /--listen-https "127\.0\.0\.1:70000": port 70000 is out of range/,
  ],
  [["gateway", "--config", ASM, "--lane-token-key-file", "/nonexistent/key"], /nonexistent/],
  [
    [...SIDECAR, "--credentials-dir", "/nonexistent/creds"],
    /--credentials-dir \/nonexistent\/creds is not a directory/,
  ],
  [
    ["gateway", "--config", ASM, "--credentials-dir", "/etc/hostname"],
    /--credentials-dir \/etc\/hostname is not a directory/,
  ],
  [[...EXPLAIN, "--request", "GET http://[::1"], /is not a URL/],
  [[...EXPLAIN, "--request", "GET http://reviews:99999/"], /is not a URL/],
  [[...EXPLAIN, "--request", "G3T http://reviews/"], /is not an HTTP method/],
  [[...EXPLAIN, "--request", "GET http://reviews/", "-H", "bad header"], /is not "name: value"/],
  [
    [...EXPLAIN, "--request", "GET http://reviews/", "--gateway", "nope"],
    /Gateway default\/nope is not defined/,
  ],
  [["validate", ASM, "--namespace", "Bad"], /--namespace "Bad" is not a valid namespace/],
  [["validate", "--nope"], /unknown flag --nope/],
  [["lane-token", "--key-file", "/etc/hostname", "--lane", "gray", "--ttl", "abc"], /--ttl "abc"/],
];

describe("bad command-line input: one clear line, never a stack trace", () => {
  it.each(cases)("%j", (argv, message) => {
    const r = spawnSync(process.execPath, [BIN, ...argv], {
      encoding: "utf8",
      env: { PATH: process.env.PATH },
      timeout: 30_000,
    });
    expect(r.signal).toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^lanecar [a-z-]+: /);
    expect(lines[0]).toMatch(message);
  });
});
