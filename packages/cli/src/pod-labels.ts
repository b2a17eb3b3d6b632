/**
 * Pod labels from `--pod-labels k=v,k=v` or a downward-API file (`key="value"` lines, as
 * Kubernetes writes `metadata.labels` into a volume).
 */
import { readFileSync } from "node:fs";
import { UsageError } from "./args.js";

export function parsePodLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf("=");
    if (eq <= 0) throw new UsageError(`pod label "${p}" is not k=v`);
    out[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return out;
}

/** Parses the downward-API label file format: one `key="value"` per line (value JSON-quoted). */
export function parsePodLabelsFile(text: string, file = "pod labels file"): Record<string, string> {
  const out: Record<string, string> = {};
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new UsageError(`${file}:${i + 1}: expected key="value"`);
    const key = line.slice(0, eq).trim();
    const rawValue = line.slice(eq + 1).trim();
    let value = rawValue;
    if (rawValue.startsWith('"')) {
      try {
        value = JSON.parse(rawValue) as string;
      } catch {
        throw new UsageError(`${file}:${i + 1}: value ${rawValue} is not a quoted string`);
      }
    }
    out[key] = value;
  });
  return out;
}

export function loadPodLabels(inline: string | undefined, file: string | undefined): Record<string, string> {
  if (inline !== undefined && file !== undefined)
    throw new UsageError("give --pod-labels or --pod-labels-file, not both");
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`cannot read --pod-labels-file ${file}: ${(err as NodeJS.ErrnoException).code}`);
    }
    return parsePodLabelsFile(text, file);
  }
  return inline === undefined ? {} : parsePodLabels(inline);
}
