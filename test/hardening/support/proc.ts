/** What a running process holds, read from /proc: open file descriptors and resident memory. */
import { readdirSync, readFileSync } from "node:fs";

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size in KiB (VmRSS). */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Reads a process's command line and environment (NUL-separated in /proc). */
export function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").filter(Boolean);
}
