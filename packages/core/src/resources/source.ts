/**
 * YAML text → raw resources with a source position for every field.
 *
 * Positions are recorded per field path (`spec.http[0].route[1].weight`) so a validator that
 * finds a problem at a path can point at the exact line and column. A path that has no node of
 * its own (a missing field) reports the position of its nearest existing parent.
 */
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  visit,
} from "yaml";
import type { Diagnostic } from "../diagnostics.js";

export interface Position {
  line: number;
  col: number;
}

export interface SourceDoc {
  file: string;
  /** 0-based index of the document within its file. */
  index: number;
  start: Position;
  positions: Map<string, Position>;
}

export interface RawResource {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  /** `metadata.labels`, when present. */
  labels: Record<string, string>;
  spec: unknown;
  source: SourceDoc;
}

export interface ConfigText {
  file: string;
  text: string;
}

/** Position of `path` or of its nearest ancestor that exists in the document. */
export function positionOf(doc: SourceDoc, path: string): Position {
  let p = path;
  for (;;) {
    const hit = doc.positions.get(p);
    if (hit) return hit;
    if (p === "") return doc.start;
    p = parentPath(p);
  }
}

export function parentPath(p: string): string {
  const dot = p.lastIndexOf(".");
  const br = p.lastIndexOf("[");
  const cut = Math.max(dot, br);
  return cut <= 0 ? "" : p.slice(0, cut);
}

/** `a.b` + `c` → `a.b.c`; `a` + 2 → `a[2]`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

function indexPositions(
  node: Node | null | undefined,
  path: string,
  lc: LineCounter,
  out: Map<string, Position>,
) {
  if (!node) return;
  if (isMap(node)) {
    for (const item of node.items) {
      if (!isPair(item)) continue;
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      const childPath = joinPath(path, key);
      const keyNode = item.key as Node | null;
      const at = keyNode?.range ?? (item.value as Node | null)?.range;
      if (at) out.set(childPath, lc.linePos(at[0]));
      indexPositions(item.value as Node | null, childPath, lc, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const childPath = joinPath(path, i);
      const n = item as Node | null;
      if (n?.range) out.set(childPath, lc.linePos(n.range[0]));
      indexPositions(n, childPath, lc, out);
    });
  }
}

/** Where the first alias to an undefined anchor is (`toJS` throws for it without a position). */
function unresolvedAliasAt(doc: Document, lc: LineCounter): Position | undefined {
  let at: Position | undefined;
  visit(doc, {
    Alias(_, node) {
      if (node.range && node.resolve(doc) === undefined) {
        at = lc.linePos(node.range[0]);
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return at;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** The positions under `prefix` (`items[2]`), keyed as if that node were the document root. */
function reroot(positions: Map<string, Position>, prefix: string): Map<string, Position> {
  const out = new Map<string, Position>();
  const dot = `${prefix}.`;
  for (const [k, v] of positions) if (k.startsWith(dot)) out.set(k.slice(dot.length), v);
  return out;
}

function toRaw(obj: Record<string, unknown>, source: SourceDoc, defaultNamespace: string): RawResource {
  const meta = (obj.metadata && typeof obj.metadata === "object" ? obj.metadata : {}) as Record<
    string,
    unknown
  >;
  const labels: Record<string, string> = {};
  if (meta.labels && typeof meta.labels === "object") {
    for (const [k, v] of Object.entries(meta.labels as Record<string, unknown>)) labels[k] = String(v);
  }
  return {
    apiVersion: str(obj.apiVersion),
    kind: str(obj.kind),
    name: str(meta.name),
    namespace: str(meta.namespace) || defaultNamespace,
    labels,
    spec: obj.spec,
    source,
  };
}

/**
 * Parses one multi-document YAML text. Syntax errors become diagnostics (with the position the
 * YAML parser gives); documents with syntax errors are dropped whole, never half-read.
 */
export function parseConfigText(
  input: ConfigText,
  defaultNamespace: string,
): { resources: RawResource[]; diagnostics: Diagnostic[] } {
  const lc = new LineCounter();
  const diagnostics: Diagnostic[] = [];
  const resources: RawResource[] = [];
  // `merge`: `<<: *anchor` keys, which Kubernetes' YAML (1.1) reads and users' manifests use.
  const docs = parseAllDocuments(input.text, {
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
  });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const at = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        diagnostics.push({
          severity: "error",
          file: input.file,
          line: at.line,
          col: at.col,
          resource: "-",
          path: "",
          message: `invalid YAML: ${e.message.split("\n")[0]}`,
        });
      }
      return;
    }
    const contents = doc.contents as Node | null;
    if (contents === null || (isScalar(contents) && contents.value === null)) return; // empty document
    const start = contents.range ? lc.linePos(contents.range[0]) : { line: 1, col: 1 };
    const positions = new Map<string, Position>();
    indexPositions(contents, "", lc, positions);
    const source: SourceDoc = { file: input.file, index, start, positions };
    let js: unknown;
    try {
      js = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      const at = unresolvedAliasAt(doc, lc) ?? start;
      diagnostics.push({
        severity: "error",
        file: input.file,
        line: at.line,
        col: at.col,
        resource: "-",
        path: "",
        message: `invalid YAML: ${(err as Error).message}`,
      });
      return;
    }
    if (js === null || typeof js !== "object" || Array.isArray(js)) {
      diagnostics.push({
        severity: "error",
        file: input.file,
        line: start.line,
        col: start.col,
        resource: "-",
        path: "",
        message: "a document must be a mapping with apiVersion, kind, metadata and spec",
      });
      return;
    }
    const obj = js as Record<string, unknown>;
    // `kubectl get ... -o yaml` prints a `kind: List` whose `items` are the resources.
    if (obj.kind === "List" && Array.isArray(obj.items)) {
      obj.items.forEach((item, i) => {
        const prefix = `items[${i}]`;
        const at = positions.get(prefix) ?? start;
        const sub: SourceDoc = { file: input.file, index, start: at, positions: reroot(positions, prefix) };
        if (item !== null && typeof item === "object" && !Array.isArray(item))
          resources.push(toRaw(item as Record<string, unknown>, sub, defaultNamespace));
        else
          diagnostics.push({
            severity: "error",
            file: input.file,
            line: at.line,
            col: at.col,
            resource: "-",
            path: prefix,
            message: "a List item must be a mapping with apiVersion, kind, metadata and spec",
          });
      });
      return;
    }
    resources.push(toRaw(obj, source, defaultNamespace));
  });
  return { resources, diagnostics };
}
