/**
 * Peer metadata exchange, as Istio's metadata exchange does it for HTTP: the calling sidecar (or
 * the gateway) tells the called sidecar who it is in one request header, so the called side's
 * `reporter="destination"` series carry real `source_*` labels. The inbound listener consumes the
 * header and strips it before the app; every listener that takes requests from outside the mesh
 * (the gateway) or from an app (the outbound listener) drops copies it did not write itself.
 *
 * Istio sends `x-envoy-peer-metadata` (a base64 protobuf Struct) and `x-envoy-peer-metadata-id`.
 * Lanecar uses its own header, `x-lanecar-peer-metadata`, with the field names of Istio's
 * `WorkloadMetadataObject` in a flat `key=value,...` list:
 *
 *   workload=productpage-v1,namespace=default,app=productpage,version=v1,service=productpage,revision=v1
 *
 * (`cluster=` too when known). The value is computed once per process. Values that are not
 * label-like, or a header that is too long, are ignored field by field, so a hostile value cannot
 * smuggle separators or grow series without bound.
 */
import type { WorkloadMetadata } from "./workload-metadata.js";

export const PEER_METADATA_HEADER = "x-lanecar-peer-metadata";

/** Longest header value read (seven fields of at most 253 characters fit easily). */
const MAX_HEADER = 2048;
/** DNS-subdomain-ish: what workload, namespace, label values and cluster names are made of. */
const VALUE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

const FIELDS: readonly (readonly [string, keyof WorkloadMetadata])[] = [
  ["workload", "workload"],
  ["namespace", "namespace"],
  ["app", "app"],
  ["version", "version"],
  ["service", "canonicalService"],
  ["revision", "canonicalRevision"],
  ["cluster", "cluster"],
];
const FIELD_BY_KEY = new Map(FIELDS);

/** The header value that describes `m` (fields that are empty or not label-like are left out). */
export function encodePeerMetadata(m: WorkloadMetadata): string {
  const parts: string[] = [];
  for (const [key, field] of FIELDS) {
    const v = m[field];
    if (v && VALUE.test(v)) parts.push(`${key}=${v}`);
  }
  return parts.join(",");
}

/** The peer a header value describes; undefined when it names nothing usable. */
export function decodePeerMetadata(value: string): WorkloadMetadata | undefined {
  if (value.length === 0 || value.length > MAX_HEADER) return undefined;
  const out: Record<keyof WorkloadMetadata, string> = {
    workload: "",
    namespace: "",
    app: "",
    version: "",
    canonicalService: "",
    canonicalRevision: "",
    cluster: "",
  };
  let any = false;
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const field = FIELD_BY_KEY.get(part.slice(0, eq).trim());
    const v = part.slice(eq + 1).trim();
    if (!field || !VALUE.test(v)) continue;
    out[field] = v;
    any = true;
  }
  return any ? out : undefined;
}
