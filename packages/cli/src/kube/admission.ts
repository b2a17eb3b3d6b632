/**
 * The admission webhook's decision, without the server: an `admission.k8s.io/v1` AdmissionReview
 * (as kube-apiserver POSTs it to `/inject`) in, the AdmissionReview response out. A pod CREATE
 * gets the JSON Patch that turns it into `injectPod`'s result (the same function `lanecar inject`
 * uses); everything else, an opted-out or already injected pod included, is allowed unchanged.
 * A review we cannot answer (not JSON, no `request.uid`) is a 400; a review we can answer but
 * whose object is not a pod we understand is allowed with a warning. Never throws.
 */
import { type InjectOptions, injectPod, type Json, type JsonObject, SKIP_REASONS } from "./inject-pod.js";
import { jsonPatch } from "./json-patch.js";

export interface AdmissionAnswer {
  status: number;
  body: JsonObject | string;
  /** One log line (a skip reason or the injected pod), for the injector's log. */
  log: string;
}

function obj(v: unknown): JsonObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined;
}

function review(response: JsonObject, apiVersion: string): JsonObject {
  return { apiVersion, kind: "AdmissionReview", response };
}

export function admit(raw: string, opts: InjectOptions): AdmissionAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return {
      status: 400,
      body: "request body is not JSON (expected an AdmissionReview)\n",
      log: "400: not JSON",
    };
  }
  const body = obj(parsed);
  const request = obj(body?.request);
  const uid = request?.uid;
  if (body?.kind !== "AdmissionReview" || !request || typeof uid !== "string" || uid === "") {
    return {
      status: 400,
      body: "expected an AdmissionReview with request.uid\n",
      log: "400: not an AdmissionReview with request.uid",
    };
  }
  // kube-apiserver expects the response in the version it sent (v1; v1beta1 has the same shape).
  const apiVersion = typeof body.apiVersion === "string" ? body.apiVersion : "admission.k8s.io/v1";
  const allow = (log: string, warnings?: string[]): AdmissionAnswer => ({
    status: 200,
    body: review({ uid, allowed: true, ...(warnings ? { warnings } : {}) }, apiVersion),
    log,
  });
  const kind = obj(request.kind);
  const ns = typeof request.namespace === "string" ? request.namespace : "";
  const pod = obj(request.object);
  const meta = obj(pod?.metadata);
  const who = `${ns}/${String(meta?.name ?? meta?.generateName ?? "?")}`;
  if (kind?.kind !== "Pod" || (kind.group ?? "") !== "")
    return allow(`skip ${String(kind?.kind)}: not a Pod`, ["lanecar injector: only Pods are injected"]);
  if (request.operation !== "CREATE") return allow(`skip pod ${who}: operation ${String(request.operation)}`);
  if (!pod || (pod.spec !== undefined && !obj(pod.spec)) || (pod.metadata !== undefined && !meta))
    return allow(`skip pod ${who}: request.object is not a pod`, [
      "lanecar injector: request.object is not a Pod; not injected",
    ]);
  const outcome = injectPod({ metadata: meta, spec: obj(pod.spec) }, opts);
  if (!outcome.injected) {
    const why = outcome.detail ?? SKIP_REASONS[outcome.reason];
    const warn = ["no-service", "host-network", "bad-annotation"].includes(outcome.reason);
    return allow(`skip pod ${who}: ${why}`, warn ? [`lanecar injector: not injected: ${why}`] : undefined);
  }
  const injected: JsonObject = { ...pod, ...(outcome.pod as JsonObject) };
  const patch = jsonPatch(pod as Json, injected);
  return {
    status: 200,
    body: review(
      {
        uid,
        allowed: true,
        patchType: "JSONPatch",
        patch: Buffer.from(JSON.stringify(patch)).toString("base64"),
      },
      apiVersion,
    ),
    log: `injected pod ${who}${request.dryRun === true ? " (dry run)" : ""}`,
  };
}
