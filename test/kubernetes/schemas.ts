/**
 * Offline stand-ins for what kube-apiserver checks when a manifest is applied (no API server can
 * run on these machines):
 * - built-in kinds: the Kubernetes OpenAPI schema, as compiled by the `kubernetes-models` package
 *   (`validate()` of each model); cert-manager and trust-manager kinds by
 *   `@kubernetes-models/cert-manager`;
 * - custom resources: the openAPIV3Schema of OUR CRDs (deploy/kubernetes/crds), run with ajv the
 *   way the API server's strict field validation treats a structural schema: a field that the
 *   schema does not declare is an error unless `x-kubernetes-preserve-unknown-fields` allows it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { parseAllDocuments } from "yaml";

export type Obj = Record<string, unknown>;

export const REPO = new URL("../../", import.meta.url).pathname;

/**
 * Every `*.yaml` under a directory (recursively), sorted; `helm/` folders hold Helm values for
 * other projects' charts, not manifests, and are left out unless `helm` is set.
 */
export function yamlFiles(dir: string, helm = false): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      if (e !== "helm" || helm) out.push(...yamlFiles(p, helm));
    } else if (/\.ya?ml$/.test(e)) out.push(p);
  }
  return out;
}

/** The non-empty documents of a multi-document YAML text. */
export function docs(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(d.errors[0]!.message);
      return d.toJS() as Obj | null;
    })
    .filter((d): d is Obj => d !== null && typeof d === "object");
}

export function fileDocs(path: string): Obj[] {
  return docs(readFileSync(path, "utf8"));
}

interface Model {
  new (data: Obj): { validate(): void };
}

/** The kubernetes-models class of a built-in (or cert-manager) kind, or undefined. */
async function modelOf(apiVersion: string, kind: string): Promise<Model | undefined> {
  const path =
    apiVersion.startsWith("cert-manager.io/") || apiVersion.startsWith("trust.cert-manager.io/")
      ? `@kubernetes-models/cert-manager/${apiVersion}/${kind}`
      : `kubernetes-models/${apiVersion}/${kind}`;
  try {
    const mod = (await import(path)) as Record<string, Model>;
    return mod[kind];
  } catch {
    return undefined;
  }
}

/** Whether kubernetes-models knows this kind (built-in Kubernetes API, cert-manager, trust-manager). */
export async function isBuiltIn(o: Obj): Promise<boolean> {
  return (await modelOf(String(o.apiVersion), String(o.kind))) !== undefined;
}

/** Validates a built-in object against the Kubernetes API schema; throws a readable error. */
export async function validateBuiltIn(o: Obj): Promise<void> {
  const model = await modelOf(String(o.apiVersion), String(o.kind));
  if (!model) throw new Error(`${String(o.apiVersion)} ${String(o.kind)}: not a built-in kind`);
  try {
    new model(o).validate();
  } catch (err) {
    const meta = o.metadata as Obj | undefined;
    throw new Error(`${String(o.kind)}/${String(meta?.name)}: ${(err as Error).message}`);
  }
}

/** A JSON schema from a CRD's openAPIV3Schema with the API server's unknown-field rule. */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Obj = {};
  for (const [k, v] of Object.entries(schema as Obj)) {
    if (k === "x-kubernetes-preserve-unknown-fields") continue;
    out[k] =
      k === "properties"
        ? Object.fromEntries(Object.entries(v as Obj).map(([n, s]) => [n, strict(s)]))
        : strict(v);
  }
  const s = schema as Obj;
  if (
    s.type === "object" &&
    s.properties &&
    s.additionalProperties === undefined &&
    !s["x-kubernetes-preserve-unknown-fields"]
  )
    out.additionalProperties = false;
  return out;
}

/** Validators for the custom resources our CRDs define, keyed by `group/version/Kind`. */
export function crdValidators(crdFiles: readonly string[]): Map<string, ValidateFunction> {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const out = new Map<string, ValidateFunction>();
  for (const f of crdFiles)
    for (const crd of fileDocs(f)) {
      if (crd.kind !== "CustomResourceDefinition") continue;
      const spec = crd.spec as { group: string; names: { kind: string }; versions: Obj[] };
      for (const v of spec.versions) {
        const schema = strict((v.schema as Obj).openAPIV3Schema) as Obj;
        // metadata is the API server's (ObjectMeta), apiVersion/kind are checked by the key.
        const props = {
          ...(schema.properties as Obj),
          apiVersion: { type: "string" },
          kind: { type: "string" },
          metadata: { type: "object" },
        };
        out.set(
          `${spec.group}/${String(v.name)}/${spec.names.kind}`,
          ajv.compile({ ...schema, properties: props }),
        );
      }
    }
  return out;
}

/** Validates a custom resource against our CRDs; returns the error text, or undefined when valid. */
export function validateCustom(validators: Map<string, ValidateFunction>, o: Obj): string | undefined {
  const key = `${String(o.apiVersion)}/${String(o.kind)}`;
  const v = validators.get(key);
  if (!v) return `no CRD serves ${key}`;
  if (v(o)) return undefined;
  return (v.errors ?? [])
    .map((e) => `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`)
    .join("; ");
}
