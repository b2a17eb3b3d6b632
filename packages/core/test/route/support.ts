/**
 * Test support for the lane-semantics suites: config snapshots from YAML strings, route requests
 * from request lines, and a seeded random source so weighted choices are reproducible.
 */
import {
  ALL_AVAILABLE,
  type Availability,
  buildSnapshot,
  type ConfigSnapshot,
  formatDiagnostic,
  headerGetter,
  type Labels,
  type LoadOptions,
  parseRequestLine,
  type RouteContext,
  type RouteDecision,
  type RouteRequest,
} from "../../src/index.js";

/** Builds a snapshot from YAML texts (one file each); throws with every error when invalid. */
export function snap(texts: string | readonly string[], opts: LoadOptions = {}): ConfigSnapshot {
  const list = typeof texts === "string" ? [texts] : texts;
  const r = buildSnapshot(
    list.map((text, i) => ({ file: `t${i}.yaml`, text })),
    opts,
  );
  if (!r.snapshot) throw new Error(`invalid test config:\n${r.diagnostics.map(formatDiagnostic).join("\n")}`);
  return r.snapshot;
}

/** `GET http://reviews:9080/x` (or `POST ...`) with headers, as the router sees it. */
export function req(line: string, headers: Readonly<Record<string, string>> = {}): RouteRequest {
  return parseRequestLine(line, headerGetter(headers));
}

export interface RouteOptions {
  headers?: Readonly<Record<string, string>>;
  labels?: Labels;
  avail?: Availability;
  rand?: () => number;
  context?: string;
  namespace?: string;
  podLabels?: Readonly<Record<string, string>>;
}

/** Routes one request line through the snapshot's router for `context` (default `mesh`). */
export function route(s: ConfigSnapshot, line: string, o: RouteOptions = {}): RouteDecision {
  const context = o.context ?? "mesh";
  const ctx: RouteContext = {
    gateway: context,
    namespace: o.namespace ?? "default",
    podLabels: o.podLabels ?? {},
  };
  return s.router(context).route(req(line, o.headers), ctx, o.labels ?? {}, o.avail ?? ALL_AVAILABLE, o.rand);
}

/** Ports of the endpoints a decision's cluster would use (available ones only). */
export function ports(d: RouteDecision, avail: Availability = ALL_AVAILABLE): number[] {
  return (d.cluster?.endpoints ?? []).filter((e) => avail.isAvailable(e)).map((e) => e.port);
}

/** mulberry32: a small seeded PRNG returning [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A rand() that replays the given values in order (then repeats the last one). */
export function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

export interface EndpointSpec {
  port: number;
  labels?: Record<string, string>;
  weight?: number;
  address?: string;
}

/** A ServiceEntry `host` on port 9080 (`http`) with inline endpoints, as YAML. */
export function serviceEntry(host: string, endpoints: readonly EndpointSpec[], namespace?: string): string {
  const eps = endpoints
    .map((e) => {
      const labels = JSON.stringify({ app: host, ...(e.labels ?? {}) });
      const weight = e.weight === undefined ? "" : `, weight: ${e.weight}`;
      return `  - {address: ${e.address ?? "127.0.0.1"}, ports: {http: ${e.port}}, labels: ${labels}${weight}}`;
    })
    .join("\n");
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host}${namespace ? `, namespace: ${namespace}` : ""}}
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http}]
  endpoints:${endpoints.length === 0 ? " []" : `\n${eps}`}
`;
}

/** A DestinationRule for `host` with `version`-labelled subsets (`{v1: {version: v1}}`). */
export function destinationRule(
  host: string,
  subsets: Readonly<Record<string, Record<string, string>>>,
  extra = "",
): string {
  const list = Object.entries(subsets)
    .map(([name, labels]) => `  - {name: ${name}, labels: ${JSON.stringify(labels)}}`)
    .join("\n");
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}}
spec:
  host: ${host}
${extra}  subsets:
${list}
`;
}

export { ALL_AVAILABLE };
