/**
 * A list + watch of one resource type that never gives up, built on the official client's
 * informer (`ListWatch`): it lists, then watches from the list's resourceVersion, and on a 410
 * Gone (an ERROR event or a 410 answer) re-lists and diffs, so deletions missed meanwhile are
 * still seen. What it lacks is added here, each checked against the API fake in the tests:
 * - lists are paged (`limit` + `continue`; an expired continue token restarts the list);
 * - watches ask for BOOKMARKs (so a resumed watch starts from a recent resourceVersion) and a
 *   server-side `timeoutSeconds` (a silently dead connection ends);
 * - the client's informer stops for good on any other error (a cut connection, a refused list):
 *   it is restarted here with exponential backoff, from the last resourceVersion it saw, so a
 *   cut watch resumes where it was and loses nothing;
 * - objects are slimmed to the fields Lanecar reads before they are cached (memory at scale).
 */
import { type KubernetesObject, ListWatch, Watch } from "@kubernetes/client-node";
import type { ClusterClient } from "./cluster-client.js";
import { KubeApiError } from "./errors.js";

export type ChangeType = "add" | "update" | "delete";

export interface InformerOptions<T> {
  /** Items per list page. Default 500 (kubectl's chunk size). */
  pageSize?: number;
  /** Server-side watch timeout; the informer re-watches after it. Default 300 s. */
  timeoutSeconds?: number;
  /** First retry delay after an error; doubles up to `maxBackoffMs`. Default 200 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Keeps only what is read (labels, addresses...): the informer caches what this returns. */
  slim?: (o: T) => T;
  onChange(type: ChangeType, obj: T): void;
  onError?(err: Error): void;
}

interface ListBody<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

/** The client's Watch with bookmarks and a server-side timeout on every watch request. */
class BookmarkWatch<T> extends Watch {
  constructor(
    client: ClusterClient,
    private readonly timeoutSeconds: number,
    private readonly slim: ((o: T) => T) | undefined,
    private readonly seen: () => void,
    private readonly stopped: () => boolean,
  ) {
    super(client.kc);
  }

  override async watch(
    path: string,
    queryParams: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // Jitter spreads re-watches of many sidecars after an API server restart, as client-go does.
    const timeout = Math.round(this.timeoutSeconds * (1 + Math.random()));
    const ctl = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: timeout },
      (phase, obj, raw) => {
        this.seen();
        callback(
          phase,
          phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED"
            ? (this.slim?.(obj as T) ?? obj)
            : obj,
          raw,
        );
      },
      done,
    );
    // The informer was stopped while this watch was connecting: the client's stop() found no
    // request to abort, so this one would stay open (and keep the process alive).
    if (this.stopped()) ctl.abort();
    return ctl;
  }
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private backoff: number;
  /** Set once the first list has been applied. */
  synced = false;
  /** Lists made (1 + re-lists after 410 Gone or restarts without a resourceVersion). */
  lists = 0;
  /** Restarts after an error (cut connections, refused requests). */
  restarts = 0;
  lastError: string | undefined;
  private syncWaiters: (() => void)[] = [];

  constructor(
    private readonly client: ClusterClient,
    /** Collection path, e.g. `/api/v1/pods` or `/apis/networking.istio.io/v1/virtualservices`. */
    readonly path: string,
    private readonly opts: InformerOptions<T>,
  ) {
    this.backoff = opts.backoffMs ?? 200;
    const watch = new BookmarkWatch<T>(
      client,
      opts.timeoutSeconds ?? 300,
      opts.slim,
      () => {
        this.backoff = this.opts.backoffMs ?? 200;
      },
      () => this.stopped,
    );
    this.lw = new ListWatch<T>(path, watch, () => this.listAll(), false);
    this.lw.on("add", (o) => opts.onChange("add", o));
    this.lw.on("update", (o) => opts.onChange("update", o));
    this.lw.on("delete", (o) => opts.onChange("delete", o));
    this.lw.on("error", (err: unknown) => this.failed(err as Error));
  }

  /** Every list page, as one list whose resourceVersion is the snapshot's. */
  private async listAll(): Promise<{ metadata: { resourceVersion: string }; items: T[] }> {
    this.lists++;
    const limit = this.opts.pageSize ?? 500;
    for (let attempt = 0; ; attempt++) {
      const items: T[] = [];
      let cont: string | undefined;
      let rv = "";
      try {
        do {
          const q = `limit=${limit}${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`;
          const page = await this.client.getJson<ListBody<T>>(`${this.path}?${q}`);
          for (const it of page.items ?? []) items.push(this.opts.slim ? this.opts.slim(it) : it);
          rv = page.metadata?.resourceVersion ?? rv;
          cont = page.metadata?.continue || undefined;
        } while (cont);
      } catch (err) {
        // The continue token expired (the snapshot was compacted): list again from the start.
        if (err instanceof KubeApiError && err.status === 410 && attempt < 3) continue;
        throw err;
      }
      const first = !this.synced;
      this.synced = true;
      // After the informer has applied this list (its continuation runs on a later microtask).
      if (first) setImmediate(() => this.resolveSync());
      this.backoff = this.opts.backoffMs ?? 200;
      return { metadata: { resourceVersion: rv }, items };
    }
  }

  private resolveSync(): void {
    const ws = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of ws) w();
  }

  private failed(err: Error): void {
    if (this.stopped) return; // the abort of stop() itself
    this.lastError = err.message;
    this.opts.onError?.(err);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 10_000);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.stopped) return;
      this.restarts++;
      // Resumes from the last resourceVersion seen (or lists, when there is none).
      this.lw.start().catch((e: Error) => this.failed(e));
    }, delay);
    this.retry.unref();
  }

  start(): void {
    this.stopped = false;
    this.lw.start().catch((e: Error) => this.failed(e));
  }

  /** Resolves once the first list has been applied (events for every listed object emitted). */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  list(): readonly T[] {
    return this.lw.list();
  }

  get resourceVersion(): string {
    return this.lw.latestResourceVersion();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    void this.lw.stop();
  }
}
