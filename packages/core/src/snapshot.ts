/**
 * A config snapshot: one validated config compiled for serving. Immutable as far as config goes:
 * a change builds a new snapshot and the proxy swaps one reference; requests in flight keep the
 * snapshot they started with. Routers (one per listener context) and label resolvers (one per
 * workload) are built on first use and cached.
 *
 * Config and endpoints are split: `withServices` makes a snapshot with other discovered services
 * (Kubernetes Services / EndpointSlices) that shares this one's validated resources, compiled
 * route tables and label resolvers, so an endpoint-only change never recompiles routes.
 */
import { createHash } from "node:crypto";
import type { AuthorizationPolicySpec, NamedPolicy } from "./authz/authorization-policy.js";
import type { PeerAuthenticationSpec } from "./authz/peer-authentication.js";
import { type Diagnostic, hasErrors, sortDiagnostics } from "./diagnostics.js";
import { type DiscoveredService, ServiceRegistry } from "./endpoint/registry.js";
import { fqdn, type HostIndex, hostMatches } from "./hosts.js";
import { type LabelResolver, resolverFor } from "./label/resolver.js";
import { readConfigTexts } from "./resources/load-files.js";
import type { ConfigText } from "./resources/source.js";
import type { KindName } from "./resources/types.js";
import { type LoadOptions, loadResources, type ValidResource } from "./resources/validate.js";
import { buildRouteTables, qualifyGateway, type RouteTable } from "./route/route-table.js";
import { Router } from "./route/router.js";

export interface BuildResult {
  /** Present only when there is no error. */
  snapshot: ConfigSnapshot | undefined;
  diagnostics: Diagnostic[];
}

export interface SnapshotOptions extends LoadOptions {
  /** Services discovered from a platform (Kubernetes), added to the ServiceEntry ones. */
  discovered?: readonly DiscoveredService[];
  /** Mixed into the version hash (e.g. the resourceVersions of API objects). */
  versionSalt?: string;
}

/** What snapshots of one config share across endpoint-only changes. */
interface Compiled {
  tables: Map<string, HostIndex<RouteTable>>;
  resolvers: Map<string, LabelResolver>;
}

export class ConfigSnapshot {
  readonly registry: ServiceRegistry;
  /**
   * security.istio.io policies, validated, for building an `Authorizer` / `mtlsModeFor` per
   * workload; the sidecar's inbound listener compiles and enforces them per snapshot.
   */
  readonly authorizationPolicies: readonly NamedPolicy<AuthorizationPolicySpec>[];
  readonly peerAuthentications: readonly NamedPolicy<PeerAuthenticationSpec>[];
  private readonly routers = new Map<string, Router>();
  private readonly compiled: Compiled;

  constructor(
    readonly version: string,
    readonly files: readonly string[],
    readonly resources: readonly ValidResource[],
    readonly warnings: readonly Diagnostic[],
    readonly discovered: readonly DiscoveredService[] = [],
    compiled?: Compiled,
  ) {
    this.compiled = compiled ?? { tables: new Map(), resolvers: new Map() };
    this.registry = new ServiceRegistry({
      serviceEntries: this.ofKind("ServiceEntry"),
      workloadEntries: this.ofKind("WorkloadEntry"),
      workloadGroups: this.ofKind("WorkloadGroup"),
      destinationRules: this.ofKind("DestinationRule"),
      discovered,
    });
    const named = <S>(r: { namespace: string; name: string; spec: S }): NamedPolicy<S> => ({
      namespace: r.namespace,
      name: r.name,
      spec: r.spec,
    });
    this.authorizationPolicies = this.ofKind("AuthorizationPolicy").map(named);
    this.peerAuthentications = this.ofKind("PeerAuthentication").map(named);
  }

  /**
   * The same config with other discovered services: route tables and label resolvers already
   * compiled are shared (and any compiled later by either is too); only the registry is rebuilt.
   */
  withServices(discovered: readonly DiscoveredService[], version: string): ConfigSnapshot {
    return new ConfigSnapshot(version, this.files, this.resources, this.warnings, discovered, this.compiled);
  }

  /** How many route-table sets have been compiled for this config (tests: endpoint swaps add none). */
  get compiledContexts(): number {
    return this.compiled.tables.size;
  }

  ofKind<K extends KindName>(kind: K): ValidResource<K>[] {
    return this.resources.filter((r) => r.kind === kind) as ValidResource<K>[];
  }

  /** Router for `mesh` (sidecars) or a gateway context `ns/name`. */
  router(context = "mesh"): Router {
    let r = this.routers.get(context);
    if (!r) {
      r = new Router(context, this.routeTables(context), this.registry);
      this.routers.set(context, r);
    }
    return r;
  }

  /** The compiled route tables of a context (shared by the snapshots of one config). */
  routeTables(context: string): HostIndex<RouteTable> {
    let tables = this.compiled.tables.get(context);
    if (!tables) {
      let vss = this.ofKind("VirtualService");
      if (context !== "mesh") {
        const gw = this.gateway(context);
        const serverHosts = gw ? gw.spec.servers.flatMap((s) => s.hosts) : [];
        // A gateway serves the VirtualService hosts its servers admit (`*`, `ns/*`, `*/host`, `host`);
        // `.` is the Gateway's own namespace, and a short VS host is compared by its FQDN too.
        vss = vss.map((vs) => ({
          ...vs,
          spec: {
            ...vs.spec,
            hosts: vs.spec.hosts.filter((h) =>
              serverHosts.some((sh) => {
                const [ns, pattern] = sh.includes("/") ? (sh.split("/", 2) as [string, string]) : ["*", sh];
                if (ns !== "*" && (ns === "." ? gw?.namespace : ns) !== vs.namespace) return false;
                return (
                  pattern === "*" || hostMatches(pattern, h) || hostMatches(pattern, fqdn(h, vs.namespace))
                );
              }),
            ),
          },
        }));
      }
      tables = buildRouteTables(vss, context);
      this.compiled.tables.set(context, tables);
    }
    return tables;
  }

  /** The Gateway resource named `ns/name`. */
  gateway(qualified: string): ValidResource<"Gateway"> | undefined {
    return this.ofKind("Gateway").find((g) => `${g.namespace}/${g.name}` === qualified);
  }

  /** Qualifies a `--gateway` value (`name` or `ns/name`) against `namespace`. */
  static gatewayContext(name: string, namespace: string): string {
    return qualifyGateway(name, namespace);
  }

  /** The label resolver for a workload (TrafficLabels of its namespace matching its pod labels). */
  labelResolver(namespace: string, podLabels: Readonly<Record<string, string>>): LabelResolver {
    const key = `${namespace}\0${Object.entries(podLabels)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(",")}`;
    let r = this.compiled.resolvers.get(key);
    if (!r) {
      r = resolverFor(this.ofKind("TrafficLabel"), namespace, podLabels);
      this.compiled.resolvers.set(key, r);
    }
    return r;
  }

  /** Is `host` a `MESH_EXTERNAL` service (egress: lane labels are not sent there)? */
  isExternal(host: string, namespace = "default"): boolean {
    return this.registry.service(fqdn(host, namespace))?.location === "MESH_EXTERNAL";
  }
}

function versionOf(texts: readonly ConfigText[], salt = ""): string {
  const h = createHash("sha256");
  for (const t of texts) h.update(t.file).update("\0").update(t.text).update("\0");
  h.update(salt);
  return h.digest("hex").slice(0, 12);
}

/** Validates and compiles config texts (and the API objects and services `opts` adds). */
export function buildSnapshot(texts: readonly ConfigText[], opts: SnapshotOptions = {}): BuildResult {
  const { resources, diagnostics, files } = loadResources(texts, opts);
  if (hasErrors(diagnostics)) return { snapshot: undefined, diagnostics };
  return {
    snapshot: new ConfigSnapshot(
      versionOf(texts, opts.versionSalt),
      files,
      resources,
      diagnostics,
      opts.discovered,
    ),
    diagnostics,
  };
}

/**
 * Reads config paths (files or directories) and builds a snapshot. An unreadable path fails the
 * build, but the files that could be read are still validated so every error shows at once.
 */
export function loadSnapshot(paths: readonly string[], opts: LoadOptions = {}): BuildResult {
  const { texts, diagnostics: io } = readConfigTexts(paths);
  if (hasErrors(io)) {
    const { diagnostics } = loadResources(texts, opts);
    return { snapshot: undefined, diagnostics: sortDiagnostics([...io, ...diagnostics]) };
  }
  const r = buildSnapshot(texts, opts);
  return { snapshot: r.snapshot, diagnostics: sortDiagnostics([...io, ...r.diagnostics]) };
}
