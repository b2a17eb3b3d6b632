/**
 * What a process reads its config from: the file source (config-source/) or Kubernetes discovery
 * (kubernetes/). Either keeps one current snapshot, swaps it whole, and says so with `reload`
 * (an endpoint-only swap shares the previous snapshot's `resources`) or `error`.
 */
import type { ConfigSnapshot } from "@lanecar/core";
import type { ReloadError } from "../config-source/config-source.js";

export interface SnapshotSource {
  readonly current: ConfigSnapshot;
  readonly lastError: ReloadError | undefined;
  readonly counts: { readonly success: number; readonly error: number };
  readonly loadedAt: string;
  start(): void;
  stop(): void;
  on(event: "reload", listener: (snapshot: ConfigSnapshot) => void): unknown;
  on(event: "error", listener: (error: ReloadError) => void): unknown;
  /** Source-specific state for `/config_dump` (e.g. discovery: clusters, left-out objects). */
  dump?(): unknown;
}
