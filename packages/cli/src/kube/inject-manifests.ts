/**
 * `lanecar inject`'s document walk: multi-document YAML (and `kind: List`) in, the same documents
 * out with every workload's pod template injected (inject-pod.ts). Pods, Deployments,
 * StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs are injected; every other document is
 * written back as it was read (comments included).
 */
import { parseAllDocuments, stringify } from "yaml";
import { type InjectOptions, injectPod, type JsonObject, type PodLike, SKIP_REASONS } from "./inject-pod.js";

export class ManifestError extends Error {}

/** Where the pod template of each injectable kind lives, keyed by `group/kind`. */
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  "/Pod": [],
  "apps/Deployment": ["spec", "template"],
  "apps/StatefulSet": ["spec", "template"],
  "apps/DaemonSet": ["spec", "template"],
  "apps/ReplicaSet": ["spec", "template"],
  "batch/Job": ["spec", "template"],
  "batch/CronJob": ["spec", "jobTemplate", "spec", "template"],
};

function asObject(v: unknown): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

function groupOf(apiVersion: unknown): string {
  if (typeof apiVersion !== "string") return "?";
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

export interface InjectReport {
  /** `kind/name: why` for each workload left alone. */
  skipped: string[];
  injected: number;
}

function label(o: JsonObject): string {
  const meta = asObject(o.metadata);
  return `${String(o.kind)}/${String(meta?.name ?? meta?.generateName ?? "?")}`;
}

/** Injects one resource (recursing into `kind: List`); returns the new object or undefined if unchanged. */
export function injectResource(
  o: JsonObject,
  opts: InjectOptions,
  report: InjectReport,
): JsonObject | undefined {
  if (o.kind === "List" && Array.isArray(o.items)) {
    let changed = false;
    const items = o.items.map((item) => {
      const it = asObject(item);
      const out = it ? injectResource(it, opts, report) : undefined;
      if (out) changed = true;
      return out ?? item;
    });
    return changed ? { ...o, items } : undefined;
  }
  const path = TEMPLATE_PATHS[`${groupOf(o.apiVersion)}/${String(o.kind)}`];
  if (!path) return undefined;
  let template: JsonObject | undefined = o;
  for (const key of path) template = asObject(template?.[key]);
  if (!template) {
    report.skipped.push(`${label(o)}: no pod template at ${path.join(".")}`);
    return undefined;
  }
  const outcome = injectPod(template as PodLike, opts);
  if (!outcome.injected) {
    if (outcome.reason !== "already-injected")
      report.skipped.push(`${label(o)}: ${outcome.detail ?? SKIP_REASONS[outcome.reason]}`);
    return undefined;
  }
  report.injected++;
  const out = structuredClone(o);
  let parent: JsonObject = out;
  for (const key of path.slice(0, -1)) parent = asObject(parent[key])!;
  if (path.length === 0) return outcome.pod as JsonObject;
  parent[path[path.length - 1]!] = outcome.pod as JsonObject;
  return out;
}

function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const col = offset - before.lastIndexOf("\n");
  return `${line}:${col}`;
}

/** Injects every document of `text`; throws ManifestError (one line) on YAML errors. */
export function injectManifests(
  text: string,
  file: string,
  opts: InjectOptions,
): { output: string; report: InjectReport } {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) return { output: text, report: { skipped: [], injected: 0 } };
  const report: InjectReport = { skipped: [], injected: 0 };
  const parts: string[] = [];
  let prevEnd = 0;
  for (const doc of docs) {
    // This document's source: from the end of the previous one to its own end, comments included.
    const source = text.slice(prevEnd, doc.range[2]);
    prevEnd = doc.range[2];
    const err = doc.errors[0];
    if (err) throw new ManifestError(`${file}:${position(text, err.pos[0])}: ${err.message.split("\n")[0]}`);
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    const o = asObject(value);
    const injected = o ? injectResource(o, opts, report) : undefined;
    if (injected) parts.push(stringify(injected, { lineWidth: 0, aliasDuplicateObjects: false }));
    // The document byte for byte as it was read; its own `---` marker is dropped, the join writes one.
    else if (value !== null && value !== undefined)
      parts.push(source.replace(/^---[ \t]*(\n|$)/m, "").replace(/^\n+/, ""));
  }
  return { output: parts.map((p) => (p.endsWith("\n") ? p : `${p}\n`)).join("---\n"), report };
}
