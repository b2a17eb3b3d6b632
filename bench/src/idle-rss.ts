/**
 * "RSS after load + TTL": what a Lanecar process gives back once the load is over and its
 * correlation entries have expired (issue 11: sidecars used to sit at the entry cap, 110–135 MB,
 * idle, forever). The last round's Lanecar processes are kept running, idle, after their
 * measurement; once `waitS` has passed since each one's load ended, their resident set (VmRSS,
 * now, not the peak) is read and they are stopped. Waiting for all of them together costs one
 * TTL per run, not one per scenario.
 */
import { statusKb } from "./proc.js";
import type { Running } from "./scenarios/types.js";

export interface IdleRss {
  /** Sum over the scenario's processes, MB. */
  sumMb: number;
  /** The largest single process, MB. */
  maxProcMb: number;
}

interface Kept {
  name: string;
  running: Running;
  pids: number[];
  loadEndedAt: number;
}

export class IdleRssProbe {
  private readonly kept: Kept[] = [];

  constructor(readonly waitS: number) {}

  /** Takes over a running scenario whose load just ended (it is stopped by {@link readAll}). */
  keep(name: string, running: Running, pids: number[]): void {
    this.kept.push({ name, running, pids, loadEndedAt: Date.now() });
  }

  /** Waits until `waitS` after each kept scenario's load, reads its RSS, stops it. */
  async readAll(log: (line: string) => void): Promise<Map<string, IdleRss>> {
    const out = new Map<string, IdleRss>();
    if (this.kept.length > 0)
      log(`RSS after load + ${this.waitS} s idle: ${this.kept.map((k) => k.name).join(", ")}`);
    for (const k of this.kept) {
      const due = k.loadEndedAt + this.waitS * 1000 - Date.now();
      if (due > 0) await new Promise((r) => setTimeout(r, due));
      const kb = k.pids.map((p) => statusKb(p, "VmRSS") ?? 0);
      out.set(k.name, { sumMb: kb.reduce((a, b) => a + b, 0) / 1024, maxProcMb: Math.max(...kb) / 1024 });
      log(
        `  ${k.name.padEnd(20)} rss after load+TTL ${(kb.reduce((a, b) => a + b, 0) / 1024).toFixed(1)} MB`,
      );
    }
    await this.stopAll();
    return out;
  }

  /** Stops whatever is still kept (also on failure). */
  async stopAll(): Promise<void> {
    const all = this.kept.splice(0);
    await Promise.all(all.map((k) => k.running.stop().catch(() => {})));
  }
}
