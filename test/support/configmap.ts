/**
 * A Kubernetes ConfigMap volume on disk, laid out and updated the way the kubelet's AtomicWriter
 * does: the data in `..<timestamp>/`, a `..data` link to it, and one link per key
 * (`name.yaml → ..data/name.yaml`); an update writes a new timestamped folder, points
 * `..data_tmp` at it and renames that over `..data` (atomic), then adds links for new keys,
 * removes links for dropped keys and deletes the old folder.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ConfigMapVolume {
  dir: string;
  /** Replaces the volume's data with `files` (key → text), as a ConfigMap update does. */
  update(files: Record<string, string>): void;
}

export function configMapVolume(files: Record<string, string>): ConfigMapVolume {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-configmap-"));
  let n = 0;
  let current = "";
  let keys: string[] = [];
  const writeData = (f: Record<string, string>): string => {
    n++;
    const ts = `..2026_12_06_05_00_${String(n).padStart(2, "0")}.${100000 + n}`;
    mkdirSync(join(dir, ts));
    for (const [k, text] of Object.entries(f)) writeFileSync(join(dir, ts, k), text);
    return ts;
  };
  current = writeData(files);
  symlinkSync(current, join(dir, "..data"));
  keys = Object.keys(files);
  for (const k of keys) symlinkSync(join("..data", k), join(dir, k));
  return {
    dir,
    update(next) {
      const ts = writeData(next);
      symlinkSync(ts, join(dir, "..data_tmp"));
      renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
      const nextKeys = Object.keys(next);
      for (const k of nextKeys) if (!keys.includes(k)) symlinkSync(join("..data", k), join(dir, k));
      for (const k of keys) if (!nextKeys.includes(k)) unlinkSync(join(dir, k));
      keys = nextKeys;
      rmSync(join(dir, current), { recursive: true });
      current = ts;
    },
  };
}
