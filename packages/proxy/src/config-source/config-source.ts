/**
 * Config files → watched → validated → one immutable snapshot swapped in whole (SPEC section 10).
 *
 * A change is noticed by `fs.watch` on the config paths (directories recursively) and, because
 * editors and ConfigMap volumes replace files in ways watchers miss, by a cheap poll that hashes
 * the texts. An invalid change is rejected: the last good snapshot keeps serving and the error is
 * kept for `/config_dump`, logged, and counted. Requests in flight keep the snapshot they took.
 *
 * A change is applied only once it has settled: the same texts on two reads at least `settleMs`
 * apart. `cat new > file` or an editor truncates, then writes, so a single read can see an empty
 * or half-written file that still parses (a VirtualService missing → requests routed to every
 * lane). Kubernetes ConfigMap volumes swap a `..data` symlink atomically; their files are read
 * through it and the `..`-prefixed directories beside them are skipped (load-files.ts), so a swap
 * reads as one change that settles at once.
 */
import { EventEmitter } from "node:events";
import { type FSWatcher, watch } from "node:fs";
import {
  buildSnapshot,
  ConfigError,
  type ConfigSnapshot,
  type Diagnostic,
  formatDiagnostic,
  hasErrors,
  readConfigTexts,
} from "@lanecar/core";

export interface ConfigSourceOptions {
  namespace: string;
  /** Poll interval for changes watchers miss; 0 disables polling. Default 1000 ms. */
  pollMs?: number;
  /** Debounce after a watch event. Default 100 ms. */
  debounceMs?: number;
  /** A change is applied once the texts read the same this long apart. Default 500 ms. */
  settleMs?: number;
}

export interface ReloadError {
  at: string;
  errors: string[];
}

export interface ConfigSourceEvents {
  reload: [snapshot: ConfigSnapshot];
  error: [error: ReloadError];
}

function textsKey(texts: { file: string; text: string }[]): string {
  return texts.map((t) => `${t.file}\0${t.text}`).join("\0\0");
}

export class ConfigSource extends EventEmitter<ConfigSourceEvents> {
  private snap: ConfigSnapshot;
  private lastKey: string;
  private watchers: FSWatcher[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  /** A change seen but not yet settled: its key and when it was first read so. */
  private pending: { key: string; since: number } | undefined;
  private settle: NodeJS.Timeout | undefined;
  lastError: ReloadError | undefined;
  readonly counts = { success: 0, error: 0 };
  loadedAt = new Date().toISOString();

  private constructor(
    readonly paths: readonly string[],
    private readonly opts: ConfigSourceOptions,
    snapshot: ConfigSnapshot,
    key: string,
  ) {
    super();
    this.snap = snapshot;
    this.lastKey = key;
  }

  /** Loads the initial config; throws `ConfigError` with every diagnostic when it is invalid. */
  static load(paths: readonly string[], opts: ConfigSourceOptions): ConfigSource {
    const { texts, diagnostics: io } = readConfigTexts(paths);
    const built = buildSnapshot(texts, { namespace: opts.namespace });
    const diagnostics = [...io, ...built.diagnostics];
    if (hasErrors(diagnostics) || !built.snapshot) throw new ConfigError(diagnostics);
    return new ConfigSource(paths, opts, built.snapshot, textsKey(texts));
  }

  /** The snapshot to use for a request that starts now. */
  get current(): ConfigSnapshot {
    return this.snap;
  }

  start(): void {
    for (const p of this.paths) {
      try {
        const w = watch(p, { recursive: true, persistent: false }, () => this.schedule());
        w.on("error", () => {});
        this.watchers.push(w);
      } catch {
        // Path vanished or cannot be watched: polling still covers it.
      }
    }
    const pollMs = this.opts.pollMs ?? 1000;
    if (pollMs > 0) {
      this.poll = setInterval(() => this.check(), pollMs);
      this.poll.unref();
    }
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.check(), this.opts.debounceMs ?? 100);
    this.debounce.unref();
  }

  /**
   * Re-reads the config; swaps it in if it changed, has settled and is valid. A change seen for
   * the first time (or still moving) is `settling`: it is read again `settleMs` later.
   */
  check(now = Date.now()): "unchanged" | "settling" | "reloaded" | "rejected" {
    const { texts, diagnostics: io } = readConfigTexts(this.paths);
    const key = textsKey(texts) + io.map(formatDiagnostic).join("\n");
    if (key === this.lastKey) {
      this.pending = undefined;
      return "unchanged";
    }
    const settleMs = this.opts.settleMs ?? 500;
    if (!this.pending || this.pending.key !== key) this.pending = { key, since: now };
    if (now - this.pending.since < settleMs) {
      this.recheck(this.pending.since + settleMs - now);
      return "settling";
    }
    this.pending = undefined;
    this.lastKey = key;
    const built = buildSnapshot(texts, { namespace: this.opts.namespace });
    const diagnostics: Diagnostic[] = [...io, ...built.diagnostics];
    if (hasErrors(diagnostics) || !built.snapshot) {
      this.counts.error++;
      this.lastError = {
        at: new Date().toISOString(),
        errors: diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic),
      };
      this.emit("error", this.lastError);
      return "rejected";
    }
    this.counts.success++;
    this.snap = built.snapshot;
    this.loadedAt = new Date().toISOString();
    this.lastError = undefined;
    this.emit("reload", built.snapshot);
    return "reloaded";
  }

  private recheck(inMs: number): void {
    if (this.settle) clearTimeout(this.settle);
    this.settle = setTimeout(() => {
      this.settle = undefined;
      this.check();
    }, inMs);
    this.settle.unref();
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    if (this.settle) clearTimeout(this.settle);
  }
}
