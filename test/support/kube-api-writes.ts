/**
 * The writes of the Kubernetes API fake, as `kubectl apply`, `kubectl replace` and `kubectl
 * delete` use them (client-side apply): POST to a collection (201, or 409 AlreadyExists), PUT
 * of one object (409 Conflict on a stale resourceVersion), PATCH with a JSON merge patch (RFC
 * 7386, what kubectl sends for custom resources; the strategic merge patch it sends for built-in
 * kinds is refused with the API server's 415 for a CRD, and merged the same way for built-ins,
 * whose lists our tests never patch), and DELETE (200 with the object). Every write goes through
 * the fake's `apply`/`delete`, so watchers see ADDED / MODIFIED / DELETED with a new
 * resourceVersion, as from the real API server.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type KubeObject, type ResourceType, status } from "./kube-api-resources.js";

export interface WritableStore {
  apply(obj: KubeObject): KubeObject;
  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean;
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
}

type Json = (res: ServerResponse, code: number, body: object) => void;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      text += c;
    });
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}

/** RFC 7386: objects merge key by key, `null` removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === "object" && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function notFound(t: ResourceType, name: string): object {
  return {
    ...status(404, "NotFound", `${t.plural}${t.group ? `.${t.group}` : ""} "${name}" not found`),
    details: { name, group: t.group, kind: t.plural },
  };
}

/** Handles one write request for resource type `t` (`name` undefined: the collection). */
export async function handleWrite(
  store: WritableStore,
  json: Json,
  req: IncomingMessage,
  res: ServerResponse,
  t: ResourceType,
  apiVersion: string,
  namespace: string | undefined,
  name: string | undefined,
): Promise<void> {
  const text = await readBody(req);
  const ns = t.namespaced ? (namespace ?? "default") : undefined;
  const current = name ? store.get(apiVersion, t.kind, ns, name) : undefined;
  if (req.method === "DELETE") {
    if (!name || !current) return json(res, 404, notFound(t, name ?? ""));
    store.delete(apiVersion, t.kind, ns, name);
    return json(res, 200, { ...current, apiVersion });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return json(res, 400, status(400, "BadRequest", "the request body is not JSON"));
  }
  if (req.method === "PATCH") {
    const type = String(req.headers["content-type"] ?? "").split(";")[0];
    const crd = t.group !== "" && t.group !== "discovery.k8s.io";
    if (
      type !== "application/merge-patch+json" &&
      !(type === "application/strategic-merge-patch+json" && !crd)
    )
      return json(
        res,
        415,
        status(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        ),
      );
    if (!name || !current) return json(res, 404, notFound(t, name ?? ""));
    const next = mergePatch(current, body) as KubeObject;
    return json(res, 200, { ...store.apply({ ...next, apiVersion, kind: t.kind }), apiVersion });
  }
  const obj = body as KubeObject;
  if (obj?.kind !== t.kind || typeof obj.metadata?.name !== "string")
    return json(res, 400, status(400, "BadRequest", `the body is not a ${t.kind} with metadata.name`));
  if (ns && obj.metadata.namespace && obj.metadata.namespace !== ns)
    return json(
      res,
      400,
      status(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      ),
    );
  const given = { ...obj, apiVersion, metadata: { ...obj.metadata, ...(ns ? { namespace: ns } : {}) } };
  if (req.method === "POST") {
    if (name) return json(res, 405, status(405, "MethodNotAllowed", "POST goes to the collection"));
    if (store.get(apiVersion, t.kind, ns, obj.metadata.name))
      return json(res, 409, {
        ...status(409, "AlreadyExists", `${t.plural}.${t.group} "${obj.metadata.name}" already exists`),
        details: { name: obj.metadata.name, group: t.group, kind: t.plural },
      });
    return json(res, 201, { ...store.apply(given), apiVersion });
  }
  if (req.method === "PUT") {
    if (!name || !current) return json(res, 404, notFound(t, name ?? ""));
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== current.metadata.resourceVersion)
      return json(
        res,
        409,
        status(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${t.plural}.${t.group} "${name}": the object has been modified`,
        ),
      );
    return json(res, 200, { ...store.apply(given), apiVersion });
  }
  return json(res, 405, status(405, "MethodNotAllowed", `${req.method} is not supported`));
}
