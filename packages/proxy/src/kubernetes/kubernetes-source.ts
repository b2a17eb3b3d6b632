/**
 * Config and endpoints from the Kubernetes API (SPEC section 11), as a snapshot source like the
 * file one: informers per cluster on Services, EndpointSlices, Pods and the Istio / ASM CRDs;
 * each burst of changes (coalesced for `batchMs`) builds a validated snapshot swapped in whole.
 *
 * Two paths. A change of a config object (or of a config file, which may be used too) validates
 * and compiles everything: an invalid API object is left out with its errors (in `/config_dump`
 * and one log line) and the rest applies — Istio would have rejected it at admission, so there is
 * no "last good" version of it to keep; an invalid file still rejects the whole change, as
 * without discovery. A change of Services, EndpointSlices or Pods only rebuilds the changed
 * services and swaps the registry (`ConfigSnapshot.withServices`): route tables are not recompiled.
 */
import { EventEmitter } from "node:events";
import {
  buildSnapshot,
  ConfigError,
  type ConfigSnapshot,
  type ConfigText,
  type Diagnostic,
  type DiscoveredService,
  formatDiagnostic,
  type RawResource,
  readConfigTexts,
} from "@lanecar/core";
import type { ConfigSourceEvents, ReloadError } from "../config-source/config-source.js";
import { ClusterClient, type ClusterSpec } from "./cluster-client.js";
import { KubernetesSyncError } from "./errors.js";
import type { InformerOptions } from "./informer.js";
import { KubeCluster } from "./kube-cluster.js";

export interface KubernetesSourceOptions {
  clusters: readonly ClusterSpec[];
  /** Config files or directories read together with the API objects (may be empty). */
  paths: readonly string[];
  namespace: string;
  /** Poll interval of the config files. Default 1000 ms. */
  pollMs?: number;
  /** Changes within this window make one snapshot. Default 20 ms. */
  batchMs?: number;
  /** How long to wait for the first list of every resource. Default 60 s. */
  syncTimeoutMs?: number;
  informer?: Pick<InformerOptions<never>, "pageSize" | "timeoutSeconds" | "backoffMs" | "maxBackoffMs">;
  log?: { info(m: string): void; error(m: string): void };
}

export { KubernetesSyncError };

const SILENT = { info: () => {}, error: () => {} };

function textsKey(texts: readonly ConfigText[]): string {
  return texts.map((t) => `${t.file}\0${t.text}`).join("\0\0");
}

export class KubernetesSource extends EventEmitter<ConfigSourceEvents> {
  private snap!: ConfigSnapshot;
  private readonly clusters: KubeCluster[];
  private texts: ConfigText[] = [];
  private io: Diagnostic[] = [];
  private textKey = "";
  private poll: NodeJS.Timeout | undefined;
  private batch: NodeJS.Timeout | undefined;
  private configDirty = true;
  private endpointsDirty = false;
  private endpointSwaps = 0;
  private readonly log: { info(m: string): void; error(m: string): void };
  /** API objects left out, by `Kind/ns/name`: their errors. */
  rejected = new Map<string, { cluster: string; errors: string[] }>();
  lastError: ReloadError | undefined;
  readonly counts = { success: 0, error: 0 };
  /** Endpoint-only swaps (no route compilation). */
  readonly endpointCounts = { swaps: 0 };
  loadedAt = new Date().toISOString();
  /** Time the last snapshot took to build, ms (bench and config_dump). */
  lastBuildMs = 0;
  private initialErrors: Diagnostic[] = [];

  private constructor(private readonly opts: KubernetesSourceOptions) {
    super();
    this.log = opts.log ?? SILENT;
    this.clusters = opts.clusters.map(
      (spec) => new KubeCluster(new ClusterClient(spec), opts.informer ?? {}, () => this.changed(), this.log),
    );
  }

  /**
   * Connects to every cluster, waits for the first list of every resource and builds the first
   * snapshot. Throws KubernetesSyncError (one line) when a cluster cannot be read in time, and
   * ConfigError-like rejections of the files as the file source does.
   */
  static async start(opts: KubernetesSourceOptions): Promise<KubernetesSource> {
    const s = new KubernetesSource(opts);
    try {
      const deadline = Date.now() + (opts.syncTimeoutMs ?? 60_000);
      await Promise.all(s.clusters.map((c) => c.start(deadline)));
      s.readFiles();
      if (!s.buildConfig(true)) {
        // Invalid files: reported as file config errors are, one line each.
        if (s.initialErrors.length > 0) throw new ConfigError(s.initialErrors);
        throw new KubernetesSyncError("kubernetes: the API objects could not be validated");
      }
      return s;
    } catch (err) {
      s.stop();
      throw err;
    }
  }

  get current(): ConfigSnapshot {
    return this.snap;
  }

  start(): void {
    const pollMs = this.opts.pollMs ?? 1000;
    if (this.opts.paths.length > 0 && pollMs > 0) {
      this.poll = setInterval(() => {
        if (this.readFiles()) {
          this.configDirty = true;
          this.schedule();
        }
      }, pollMs);
      this.poll.unref();
    }
  }

  stop(): void {
    if (this.poll) clearInterval(this.poll);
    if (this.batch) clearTimeout(this.batch);
    for (const c of this.clusters) c.stop();
  }

  /** Re-reads the config files; true when they changed. */
  private readFiles(): boolean {
    if (this.opts.paths.length === 0) return false;
    const { texts, diagnostics } = readConfigTexts(this.opts.paths);
    const key = textsKey(texts) + diagnostics.map(formatDiagnostic).join("\n");
    if (key === this.textKey) return false;
    this.textKey = key;
    this.texts = texts;
    this.io = diagnostics;
    return true;
  }

  private changed(kind: "config" | "endpoints" = "endpoints"): void {
    if (kind === "config") this.configDirty = true;
    else this.endpointsDirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (!this.snap || this.batch) return; // before the first build, start() builds everything
    this.batch = setTimeout(() => {
      this.batch = undefined;
      this.flush();
    }, this.opts.batchMs ?? 20);
    this.batch.unref();
  }

  /** Applies what changed since the last snapshot. */
  flush(): void {
    const config = this.configDirty || this.clusters.some((c) => c.configDirty);
    if (config) this.buildConfig(false);
    else if (this.endpointsDirty || this.clusters.some((c) => c.endpointsDirty)) this.swapEndpoints();
  }

  private discovered(): DiscoveredService[] {
    const out: DiscoveredService[] = [];
    for (const c of this.clusters) c.collectServices(out);
    return out;
  }

  private swapEndpoints(): void {
    const t0 = performance.now();
    this.endpointsDirty = false;
    const next = this.snap.withServices(this.discovered(), `${this.baseVersion()}.e${++this.endpointSwaps}`);
    this.lastBuildMs = performance.now() - t0;
    this.snap = next;
    this.endpointCounts.swaps++;
    this.emit("reload", next);
  }

  private baseVersion(): string {
    return this.snap.version.split(".e")[0]!;
  }

  /**
   * Validates files + API objects + discovered services into a snapshot. API objects with errors
   * are left out (repeated: leaving one out may invalidate another that referred to it).
   */
  private buildConfig(initial: boolean): boolean {
    const t0 = performance.now();
    this.configDirty = false;
    this.endpointsDirty = false;
    const discovered = this.discovered();
    let raws: { raw: RawResource; cluster: string; version: string }[] = [];
    const seen = new Set<string>();
    for (const c of this.clusters) {
      for (const o of c.configObjects()) {
        const id = `${o.raw.kind}/${o.raw.namespace}/${o.raw.name}`;
        // The same object in two clusters (config replicated to every cluster): the first wins.
        if (seen.has(id)) continue;
        seen.add(id);
        raws.push(o);
      }
    }
    const rejected = new Map<string, { cluster: string; errors: string[] }>();
    for (let round = 0; round < 8; round++) {
      const salt = raws
        .map((r) => `${r.cluster}|${r.raw.kind}/${r.raw.namespace}/${r.raw.name}@${r.version}`)
        .join("\n");
      const built = buildSnapshot(this.texts, {
        namespace: this.opts.namespace,
        raw: raws.map((r) => r.raw),
        platformServices: true,
        discovered,
        versionSalt: salt,
      });
      const errors = [...this.io, ...built.diagnostics].filter((d) => d.severity === "error");
      const fileErrors = errors.filter((d) => !d.file.startsWith("kubernetes:"));
      if (fileErrors.length > 0) {
        this.counts.error++;
        this.lastError = { at: new Date().toISOString(), errors: fileErrors.map(formatDiagnostic) };
        if (initial) {
          this.initialErrors = fileErrors;
          return false;
        }
        this.emit("error", this.lastError);
        // The last good config keeps serving, but endpoints still follow the cluster.
        if (this.snap.discovered !== discovered) {
          this.snap = this.snap.withServices(discovered, `${this.baseVersion()}.e${++this.endpointSwaps}`);
          this.endpointCounts.swaps++;
          this.emit("reload", this.snap);
        }
        return false;
      }
      const apiErrors = errors.filter((d) => d.file.startsWith("kubernetes:"));
      if (apiErrors.length === 0 && built.snapshot) {
        this.reportRejected(rejected);
        this.snap = built.snapshot;
        this.lastBuildMs = performance.now() - t0;
        this.loadedAt = new Date().toISOString();
        this.lastError = undefined;
        this.counts.success++;
        if (!initial) this.emit("reload", built.snapshot);
        return true;
      }
      for (const d of apiErrors) {
        const r = rejected.get(d.resource) ?? { cluster: d.file.slice("kubernetes:".length), errors: [] };
        r.errors.push(`${d.resource}: ${d.path ? `${d.path}: ` : ""}${d.message}`);
        rejected.set(d.resource, r);
      }
      raws = raws.filter((r) => !rejected.has(`${r.raw.kind}/${r.raw.namespace}/${r.raw.name}`));
    }
    return false;
  }

  /** One log line per object newly left out (or whose errors changed). */
  private reportRejected(now: Map<string, { cluster: string; errors: string[] }>): void {
    for (const [id, r] of now) {
      const before = this.rejected.get(id);
      if (before && before.errors.join("\n") === r.errors.join("\n")) continue;
      this.log.error(`kubernetes:${r.cluster} ${id} left out (invalid): ${r.errors.join("; ")}`);
    }
    for (const id of this.rejected.keys())
      if (!now.has(id)) this.log.info(`kubernetes: ${id} is no longer left out`);
    this.rejected = now;
  }

  dump(): unknown {
    return {
      clusters: this.clusters.map((c) => c.dump()),
      endpointSwaps: this.endpointCounts.swaps,
      lastBuildMs: Math.round(this.lastBuildMs * 100) / 100,
      rejected: [...this.rejected].map(([resource, r]) => ({
        resource,
        cluster: r.cluster,
        errors: r.errors,
      })),
    };
  }
}
