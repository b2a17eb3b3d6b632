/**
 * Reads config paths (files, or directories read recursively for `*.yaml` / `*.yml`) into texts.
 * Problems (missing path, unreadable file, empty directory) are diagnostics, never exceptions.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Diagnostic } from "../diagnostics.js";
import type { ConfigText } from "./source.js";

const YAML_FILE = /\.ya?ml$/i;

function ioError(file: string, message: string): Diagnostic {
  return { severity: "error", file, line: 1, col: 1, resource: "-", path: "", message };
}

function walk(dir: string, out: string[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
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
      diagnostics.push(ioError(p, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
      continue;
    }
    if (st.isDirectory()) {
      const found: string[] = [];
      try {
        walk(p, found);
      } catch (err) {
        diagnostics.push(ioError(p, `cannot read directory: ${(err as NodeJS.ErrnoException).code}`));
        continue;
      }
      if (found.length === 0) diagnostics.push(ioError(p, "directory holds no *.yaml or *.yml file"));
      files.push(...found);
    } else {
      files.push(p);
    }
  }
  return { files, diagnostics };
}

export function readConfigTexts(paths: readonly string[]): { texts: ConfigText[]; diagnostics: Diagnostic[] } {
  const { files, diagnostics } = listConfigFiles(paths);
  const texts: ConfigText[] = [];
  for (const file of files) {
    try {
      texts.push({ file, text: readFileSync(file, "utf8") });
    } catch (err) {
      diagnostics.push(ioError(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
    }
  }
  return { texts, diagnostics };
}
