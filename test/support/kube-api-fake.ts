/**
 * A Kubernetes API server fake for tests, speaking the real wire protocol (no kube-apiserver can
 * be obtained on these machines): discovery (`/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`), lists
 * with `metadata.resourceVersion` and `limit`/`continue` (pages are one consistent snapshot; an
 * expired token is 410), GET of one object, and watches as chunked `{type, object}` JSON lines
 * from a resourceVersion — replaying history, `allowWatchBookmarks` BOOKMARKs, `timeoutSeconds`,
 * ERROR events carrying a 410 `Expired` Status once history is compacted —, the writes
 * `kubectl apply` / `delete` make (kube-api-writes.ts), plus the faults tests need: cut every
 * watch connection, expire open watches, refuse everything. Unknown resources are 404 Status
 * objects. Its fidelity is checked by the real `kubectl` (test/kubernetes).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { BUILTIN_TYPES, crdTypes, type KubeObject, type ResourceType, status } from "./kube-api-resources.js";
import { handleWrite } from "./kube-api-writes.js";

export { BUILTIN_TYPES, crdTypes, type KubeObject, type ResourceType };

interface WatchEvent {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: KubeObject;
}

interface Watcher {
  type: ResourceType;
  namespace: string | undefined;
  res: ServerResponse;
  sent: number;
}

export class KubeApiFake {
  private server: Server | undefined;
  private readonly types: ResourceType[];
  /** `plural.group` → `ns/name` → object. */
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly history = new Map<string, WatchEvent[]>();
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly pages = new Map<string, { rv: number; items: KubeObject[] }>();
  private rv = 100;
  /** Watches and continue tokens from before this resourceVersion get 410 Expired. */
  private compactedRv = 0;
  private pageSeq = 0;
  /** BOOKMARK period for watches that allow them. */
  bookmarkMs = 1000;
  /** Every request answered 503 while set (an API server outage). */
  down = false;
  /** Requests seen, `METHOD path?query` (tests assert on the protocol the client used). */
  readonly requests: string[] = [];
  url = "";

  constructor(types: ResourceType[] = [...BUILTIN_TYPES, ...crdTypes()]) {
    this.types = types;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(port, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /**
   * A kubeconfig (YAML) pointing at this server over plain HTTP. `insecure-skip-tls-verify` is
   * what @kubernetes/client-node 1.x demands before it talks HTTP at all.
   */
  kubeconfig(context = "fake"): string {
    return `apiVersion: v1
kind: Config
clusters:
- name: ${context}
  cluster: {server: "${this.url}", insecure-skip-tls-verify: true}
users:
- name: ${context}
  user: {token: fake-token}
contexts:
- name: ${context}
  context: {cluster: ${context}, user: ${context}, namespace: default}
current-context: ${context}
`;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  // ---- writes (what a controller or kubectl apply would do) ------------------------------

  private typeOf(apiVersion: string, kind: string): ResourceType {
    const [g, v] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    const t = this.types.find((x) => x.group === g && x.kind === kind && x.versions.includes(v!));
    if (!t) throw new Error(`the fake serves no ${kind} in ${apiVersion}`);
    return t;
  }

  private keyOf(t: ResourceType): string {
    return `${t.plural}.${t.group}`;
  }

  /** Creates or replaces an object; returns the stored copy (with its resourceVersion). */
  apply(obj: KubeObject): KubeObject {
    const t = this.typeOf(obj.apiVersion, obj.kind);
    const map = this.mapOf(t);
    const ns = t.namespaced ? (obj.metadata.namespace ?? "default") : undefined;
    const id = `${ns ?? ""}/${obj.metadata.name}`;
    const prior = map.get(id);
    const stored: KubeObject = structuredClone(obj);
    this.rv++;
    stored.metadata = {
      ...stored.metadata,
      ...(ns ? { namespace: ns } : {}),
      uid: (prior?.metadata.uid as string | undefined) ?? `uid-${this.rv}`,
      resourceVersion: String(this.rv),
      creationTimestamp:
        (prior?.metadata.creationTimestamp as string | undefined) ?? new Date().toISOString(),
      generation: ((prior?.metadata.generation as number | undefined) ?? 0) + 1,
    };
    map.set(id, stored);
    this.publish(t, { rv: this.rv, type: prior ? "MODIFIED" : "ADDED", object: stored });
    return stored;
  }

  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string): boolean {
    const t = this.typeOf(apiVersion, kind);
    const map = this.mapOf(t);
    const id = `${t.namespaced ? (namespace ?? "default") : ""}/${name}`;
    const prior = map.get(id);
    if (!prior) return false;
    map.delete(id);
    this.rv++;
    const gone = structuredClone(prior);
    gone.metadata.resourceVersion = String(this.rv);
    this.publish(t, { rv: this.rv, type: "DELETED", object: gone });
    return true;
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const t = this.typeOf(apiVersion, kind);
    return this.mapOf(t).get(`${t.namespaced ? (namespace ?? "default") : ""}/${name}`);
  }

  // ---- faults ---------------------------------------------------------------------------

  /** Destroys every open watch connection mid-stream (no final chunk), as a network cut does. */
  cutWatches(): number {
    const n = this.watchers.size;
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
    return n;
  }

  /** Forgets history up to now: watches from an older resourceVersion get ERROR 410. */
  compact(): void {
    this.compactedRv = this.rv;
    for (const h of this.history.values()) h.length = 0;
    this.pages.clear();
  }

  /** Ends every open watch with an ERROR event carrying a 410 Expired Status, as the apiserver does. */
  expireWatches(): number {
    this.compact();
    const n = this.watchers.size;
    for (const w of this.watchers) {
      w.res.end(
        `${JSON.stringify({ type: "ERROR", object: status(410, "Expired", "too old resource version") })}\n`,
      );
    }
    this.watchers.clear();
    return n;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  // ---- protocol -------------------------------------------------------------------------

  private mapOf(t: ResourceType): Map<string, KubeObject> {
    const k = this.keyOf(t);
    let m = this.store.get(k);
    if (!m) this.store.set(k, (m = new Map()));
    return m;
  }

  private publish(t: ResourceType, e: WatchEvent): void {
    const k = this.keyOf(t);
    let h = this.history.get(k);
    if (!h) this.history.set(k, (h = []));
    h.push(e);
    for (const w of this.watchers) {
      if (w.type !== t) continue;
      if (w.namespace && e.object.metadata.namespace !== w.namespace) continue;
      this.send(w, e.type, e.object);
    }
  }

  private send(w: Watcher, type: string, object: object): void {
    w.sent++;
    w.res.write(`${JSON.stringify({ type, object: this.versioned(object as KubeObject, w.res) })}\n`);
  }

  /** The object as the requested group version shows it (CRD versions share one schema here). */
  private versioned(o: KubeObject, res: ServerResponse): KubeObject {
    const v = (res as ServerResponse & { apiVersion?: string }).apiVersion;
    return v && o.apiVersion !== v ? { ...o, apiVersion: v } : o;
  }

  private json(res: ServerResponse, code: number, body: object): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (this.down) return this.json(res, 503, status(503, "ServiceUnavailable", "the API server is down"));
    const write = req.method !== "GET";
    const p = url.pathname.replace(/\/+$/, "");
    if (p === "/version")
      return this.json(res, 200, {
        major: "1",
        minor: "32",
        gitVersion: "v1.32.0-lanecar-fake",
        platform: "linux/amd64",
      });
    if (p === "/api")
      return this.json(res, 200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
    if (p === "/apis") return this.json(res, 200, this.groupList());
    const parts = p.split("/").filter(Boolean);
    // /api/v1/... or /apis/<group>/<version>/...
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === "api" && parts.length >= 2) [group, version, rest] = ["", parts[1]!, parts.slice(2)];
    else if (parts[0] === "apis" && parts.length >= 3)
      [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
    else
      return this.json(res, 404, status(404, "NotFound", "the server could not find the requested resource"));
    const served = this.types.filter((t) => t.group === group && t.versions.includes(version));
    if (rest.length === 0) {
      if (served.length === 0)
        return this.json(
          res,
          404,
          status(404, "NotFound", "the server could not find the requested resource"),
        );
      return this.json(res, 200, this.resourceList(group, version, served));
    }
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const t = served.find((x) => x.plural === rest[0]);
    if (!t || rest.length > 2 || (namespace && !t.namespaced)) {
      return this.json(
        res,
        404,
        status(
          404,
          "NotFound",
          `the server could not find the requested resource (get ${rest[0]}${group ? `.${group}` : ""})`,
        ),
      );
    }
    const apiVersion = group ? `${group}/${version}` : version;
    (res as ServerResponse & { apiVersion?: string }).apiVersion = apiVersion;
    if (write) {
      handleWrite(this, (r, c, b) => this.json(r, c, b), req, res, t, apiVersion, namespace, rest[1]).catch(
        (err: Error) => this.json(res, 500, status(500, "InternalError", err.message)),
      );
      return;
    }
    if (rest.length === 2) {
      const o = this.mapOf(t).get(`${namespace ?? ""}/${rest[1]}`);
      if (!o)
        return this.json(res, 404, {
          ...status(404, "NotFound", `${t.plural} "${rest[1]}" not found`),
          details: { name: rest[1], kind: t.plural },
        });
      return this.json(res, 200, this.versioned(o, res));
    }
    if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1")
      return this.watch(t, namespace, url.searchParams, res);
    return this.list(t, apiVersion, namespace, url.searchParams, res);
  }

  private groupList(): object {
    const groups = new Map<string, string[]>();
    for (const t of this.types) {
      if (!t.group) continue;
      const vs = groups.get(t.group) ?? [];
      for (const v of t.versions) if (!vs.includes(v)) vs.push(v);
      groups.set(t.group, vs);
    }
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: [...groups].map(([name, vs]) => ({
        name,
        versions: vs.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${vs[0]}`, version: vs[0] },
      })),
    };
  }

  private resourceList(group: string, version: string, served: ResourceType[]): object {
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group ? `${group}/${version}` : version,
      resources: served.map((t) => ({
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
        ...(t.shortNames ? { shortNames: t.shortNames } : {}),
      })),
    };
  }

  private matching(t: ResourceType, namespace: string | undefined): KubeObject[] {
    return [...this.mapOf(t).entries()]
      .filter(([id]) => !namespace || id.startsWith(`${namespace}/`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
  }

  private list(
    t: ResourceType,
    apiVersion: string,
    namespace: string | undefined,
    q: URLSearchParams,
    res: ServerResponse,
  ): void {
    const limit = Number(q.get("limit") ?? 0);
    const token = q.get("continue");
    let snap: { rv: number; items: KubeObject[] };
    let start = 0;
    if (token) {
      let parsed: { id: string; start: number } | undefined;
      try {
        parsed = JSON.parse(Buffer.from(token, "base64").toString()) as { id: string; start: number };
      } catch {
        return this.json(res, 400, status(400, "BadRequest", "continue key is not valid"));
      }
      const s = this.pages.get(parsed.id);
      if (!s)
        return this.json(
          res,
          410,
          status(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result.",
          ),
        );
      snap = s;
      start = parsed.start;
    } else {
      snap = { rv: this.rv, items: this.matching(t, namespace) };
    }
    const end = limit > 0 ? Math.min(start + limit, snap.items.length) : snap.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snap.rv) };
    if (end < snap.items.length) {
      const id = token
        ? (JSON.parse(Buffer.from(token, "base64").toString()) as { id: string }).id
        : `p${++this.pageSeq}`;
      this.pages.set(id, snap);
      metadata.continue = Buffer.from(JSON.stringify({ id, start: end })).toString("base64");
      metadata.remainingItemCount = snap.items.length - end;
    }
    const crd = t.group !== "" && t.group !== "discovery.k8s.io";
    const items = snap.items.slice(start, end).map((o) => {
      if (crd) return { ...o, apiVersion };
      const { apiVersion: _a, kind: _k, ...rest } = o;
      return rest;
    });
    this.json(res, 200, { kind: `${t.kind}List`, apiVersion, metadata, items });
  }

  private watch(
    t: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    res: ServerResponse,
  ): void {
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const w: Watcher = { type: t, namespace, res, sent: 0 };
    const rvParam = q.get("resourceVersion") ?? "";
    if (rvParam === "" || rvParam === "0") {
      // "Start at the most recent": the current state as ADDED events, then changes.
      for (const o of this.matching(t, namespace)) this.send(w, "ADDED", o);
    } else {
      const from = Number(rvParam);
      if (!Number.isFinite(from) || from < this.compactedRv) {
        res.end(
          `${JSON.stringify({ type: "ERROR", object: status(410, "Expired", `too old resource version: ${rvParam} (${this.compactedRv})`) })}\n`,
        );
        return;
      }
      for (const e of this.history.get(this.keyOf(t)) ?? []) {
        if (e.rv <= from) continue;
        if (namespace && e.object.metadata.namespace !== namespace) continue;
        this.send(w, e.type, e.object);
      }
    }
    this.watchers.add(w);
    const timers: NodeJS.Timeout[] = [];
    const bookmark = () =>
      this.send(w, "BOOKMARK", {
        kind: t.kind,
        apiVersion: (res as ServerResponse & { apiVersion?: string }).apiVersion,
        metadata: { resourceVersion: String(this.rv) },
      });
    if (q.get("allowWatchBookmarks") === "true") timers.push(setInterval(bookmark, this.bookmarkMs));
    const timeout = Number(q.get("timeoutSeconds") ?? 0);
    if (timeout > 0) {
      timers.push(
        setTimeout(() => {
          if (q.get("allowWatchBookmarks") === "true") bookmark();
          this.watchers.delete(w);
          res.end();
        }, timeout * 1000),
      );
    }
    res.on("close", () => {
      for (const x of timers) clearTimeout(x);
      this.watchers.delete(w);
    });
  }
}
