/**
 * V8 settings for the data plane (`lanecar sidecar`, `lanecar gateway`), applied by the launcher
 * (bin/lanecar.js) before anything else is loaded. A sidecar runs beside every pod, so its memory
 * is paid once per pod: this trades a few more young-generation collections for a bounded,
 * smaller resident set (bench/README.md, "Memory").
 *
 * A young-generation cap: V8 doubles the young generation (two semi-spaces) whenever enough
 * objects survive, up to 16 MB per semi-space on 64-bit machines, i.e. 32 MB resident. A proxy
 * allocates fast but keeps little (a request lives a few milliseconds), so past a few MB a
 * bigger young generation buys few fewer collections. Node's `--max-semi-space-size` is only
 * read at start-up, which a launcher run as `node bin/lanecar.js` cannot set; so growth is
 * switched off and on (V8's `--semi-space-growth-factor`, read at each resize) so that it stops
 * at {@link YOUNG_GENERATION_CAP_MB} (one doubling more at worst, if several collections run
 * before the check).
 *
 * `LANECAR_V8_TUNING=0` leaves V8's defaults (to compare, or if a workload prefers speed).
 */
import { PerformanceObserver } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

/** Size at which the young generation (both semi-spaces) stops growing, MB. */
export const YOUNG_GENERATION_CAP_MB = 8;

function youngGenerationMb(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === "new_space") return s.space_size / 1048576;
  return 0;
}

/** Applies the data-plane V8 settings (see the module comment); returns what it did. */
export function tuneV8ForDataPlane(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.LANECAR_V8_TUNING === "0") return [];
  // Loading the modules would grow the young generation past the cap before any callback can
  // run, so it starts frozen; after each collection it may grow (V8's default factor, 2) while
  // under the cap, and is frozen for good once there.
  setFlagsFromString("--semi-space-growth-factor=1");
  const obs = new PerformanceObserver(() => {
    if (youngGenerationMb() < YOUNG_GENERATION_CAP_MB) setFlagsFromString("--semi-space-growth-factor=2");
    else {
      setFlagsFromString("--semi-space-growth-factor=1");
      obs.disconnect();
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  return [`young generation ≤ ${YOUNG_GENERATION_CAP_MB} MB`];
}
