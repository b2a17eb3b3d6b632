/**
 * RFC 6902 JSON Patch from one JSON document to another: what the admission webhook returns so
 * the API server turns the pod it sent into the injected pod. Objects are compared key by key;
 * an array whose elements keep their positions is patched per element, one that grew at its end
 * gets `add .../-` for the new elements, any other array is replaced whole (the patch is applied
 * to exactly the object we were sent, so a replace loses nothing).
 */
import type { Json, JsonObject } from "./inject-pod.js";

export interface PatchOp {
  op: "add" | "remove" | "replace";
  path: string;
  value?: Json;
}

/** RFC 6901 escaping of one reference token (`~` then `/`). */
export function pointerToken(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function isObject(v: Json): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function equal(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]!));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k]!, b[k]!));
  }
  return false;
}

function diffInto(from: Json, to: Json, path: string, ops: PatchOp[]): void {
  if (equal(from, to)) return;
  if (isObject(from) && isObject(to)) {
    for (const k of Object.keys(from))
      if (!(k in to)) ops.push({ op: "remove", path: `${path}/${pointerToken(k)}` });
    for (const k of Object.keys(to)) {
      const p = `${path}/${pointerToken(k)}`;
      if (!(k in from)) ops.push({ op: "add", path: p, value: to[k]! });
      else diffInto(from[k]!, to[k]!, p, ops);
    }
    return;
  }
  if (Array.isArray(from) && Array.isArray(to) && from.length <= to.length) {
    if (from.every((x, i) => equal(x, to[i]!))) {
      for (const x of to.slice(from.length)) ops.push({ op: "add", path: `${path}/-`, value: x });
      return;
    }
    if (from.length === to.length) {
      for (let i = 0; i < from.length; i++) diffInto(from[i]!, to[i]!, `${path}/${i}`, ops);
      return;
    }
  }
  ops.push({ op: "replace", path: path === "" ? "" : path, value: to });
}

/** The patch that turns `from` into `to` (empty when they are equal). */
export function jsonPatch(from: Json, to: Json): PatchOp[] {
  const ops: PatchOp[] = [];
  diffInto(from, to, "", ops);
  return ops;
}
