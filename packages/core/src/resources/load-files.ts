/**
 * Reads config paths (files, or directories read recursively for `*.yaml` / `*.yml`) into texts.
 * Problems (missing path, unreadable file, empty directory) are diagnostics, never exceptions.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Diagnostic } from "../diagnostics.js";
import type { ConfigText } from "./source.js";

const YAML_FILE = /\.ya?ml$/i;

function ioError(file: string, message: string): Diagnostic {
  return { severity: "error", file, line: 1, col: 1, resource: "-", path: "", message };
}

const IO_REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  ENOTDIR: "a path component is not a directory",
  EISDIR: "is a directory",
  ELOOP: "too many symbolic links",
};

/** `no such file or directory (ENOENT)`: what a user can act on, plus the code to search for. */
function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) return (err as Error).message;
  const reason = IO_REASONS[code];
  return reason ? `${reason} (${code})` : code;
}

function walk(dir: string, out: string[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    // Kubernetes ConfigMap/Secret volumes keep their data in `..<timestamp>/` behind a `..data`
    // symlink the kubelet swaps atomically; the files to read are the links beside them.
    if (e.name.startsWith("..")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if ((e.isFile() || e.isSymbolicLink()) && YAML_FILE.test(e.name)) out.push(p);
  }
}

/** Expands paths to the list of YAML files they name, in a stable order. */
export function listConfigFiles(paths: readonly string[]): { files: string[]; diagnostics: Diagnostic[] } {
  const files: string[] = [];
  const diagnostics: Diagnostic[] = [];
  if (paths.length === 0) diagnostics.push(ioError("-", "no config path given"));
  for (const p of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (err) {
      diagnostics.push(ioError(p, `cannot read: ${ioReason(err)}`));
      continue;
    }
    if (st.isDirectory()) {
      const found: string[] = [];
      try {
        walk(p, found);
      } catch (err) {
        diagnostics.push(ioError(p, `cannot read directory: ${ioReason(err)}`));
        continue;
      }
      if (found.length === 0) diagnostics.push(ioError(p, "directory holds no *.yaml or *.yml file"));
      files.push(...found);
    } else {
      files.push(p);
    }
  }
  // `lanecar validate conf/ conf/routes.yaml` names one file twice: read it once, or every
  // resource in it would be reported as its own duplicate.
  const seen = new Set<string>();
  const unique = files.filter((f) => {
    const key = resolve(f);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { files: unique, diagnostics };
}

export function readConfigTexts(paths: readonly string[]): {
  texts: ConfigText[];
  diagnostics: Diagnostic[];
} {
  const { files, diagnostics } = listConfigFiles(paths);
  const texts: ConfigText[] = [];
  for (const file of files) {
    try {
      texts.push({ file, text: readFileSync(file, "utf8") });
    } catch (err) {
      diagnostics.push(ioError(file, `cannot read: ${ioReason(err)}`));
    }
  }
  return { texts, diagnostics };
}
