/**
 * A full garbage collection on request, for when the process has just gone idle after load
 * (the correlation store purged its expired entries and nothing new arrives). V8 collects when
 * JavaScript allocates; a sidecar that stops receiving requests allocates nothing, so the heap
 * the store held can stay resident indefinitely (measured: 131 MB → 140 MB twenty seconds
 * after the store emptied; 68 MB with one collection). `gc` is exposed at run time because the
 * launcher is started as `node bin/lanecar.js`, without node flags.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let cached: (() => void) | null | undefined;

/** V8's full collection, or undefined when it cannot be exposed. */
export function fullGc(): (() => void) | undefined {
  if (cached !== undefined) return cached ?? undefined;
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") cached = g;
  else {
    try {
      setFlagsFromString("--expose-gc");
      const fn = runInNewContext("gc") as unknown;
      cached = typeof fn === "function" ? (fn as () => void) : null;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}
