/**
 * One Kubernetes cluster as Lanecar reads it: credentials from a kubeconfig (file + context) or
 * the pod's service account (in-cluster), through the official client's `KubeConfig`; JSON GETs
 * (discovery, paged lists) on the same credentials; and which version of an API group the
 * server serves, so the Istio CRDs are read in whatever of v1 / v1beta1 / v1alpha3 is installed.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeApiError } from "./errors.js";

export interface ClusterSpec {
  /** Absent: in-cluster service account. */
  kubeconfig?: string;
  context?: string;
}

export { KubeApiError };

const REQUEST_TIMEOUT_MS = 30_000;

type ApiGroups = { groups?: { name: string; versions: { version: string }[] }[] };

export class ClusterClient {
  readonly kc: KubeConfig;
  /** `context` name, or `in-cluster`: prefixes log lines and config_dump entries. */
  readonly name: string;
  readonly server: string;
  private groups: Promise<ApiGroups> | undefined;

  constructor(spec: ClusterSpec) {
    const kc = new KubeConfig();
    try {
      if (spec.kubeconfig) {
        kc.loadFromFile(spec.kubeconfig);
        if (spec.context) {
          if (!kc.getContextObject(spec.context))
            throw new Error(`context "${spec.context}" is not in ${spec.kubeconfig}`);
          kc.setCurrentContext(spec.context);
        }
      } else {
        if (!process.env.KUBERNETES_SERVICE_HOST)
          throw new Error(
            "not running in a cluster (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig FILE",
          );
        kc.loadFromCluster();
      }
    } catch (err) {
      throw new KubeApiError(
        `kubernetes: cannot load ${spec.kubeconfig ?? "the in-cluster service account"}: ${(err as Error).message}`,
        undefined,
      );
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster?.server)
      throw new KubeApiError(
        spec.kubeconfig
          ? `kubernetes: ${spec.kubeconfig} has no cluster server for context "${kc.getCurrentContext()}"`
          : "kubernetes: not running in a cluster (KUBERNETES_SERVICE_HOST unset); pass --kubeconfig",
        undefined,
      );
    this.kc = kc;
    this.server = cluster.server.replace(/\/+$/, "");
    this.name = spec.kubeconfig ? kc.getCurrentContext() || "default" : "in-cluster";
  }

  /** GET `path` as JSON. Non-2xx answers throw KubeApiError with the Status message and code. */
  async getJson<T>(path: string): Promise<T> {
    const url = new URL(this.server + path);
    const opts: RequestOptions = { method: "GET", headers: { accept: "application/json" } };
    await this.kc.applyToHTTPSOptions(opts);
    const https = url.protocol === "https:";
    if (!https) delete opts.agent;
    const send = https ? httpsRequest : httpRequest;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { ...opts, timeout: REQUEST_TIMEOUT_MS }, resolve);
      req.on("timeout", () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
      req.on("error", reject);
      req.end();
    }).catch((err: Error) => {
      throw new KubeApiError(`GET ${path}: ${err.message}`, undefined);
    });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new KubeApiError(`GET ${path}: ${res.statusCode} with a body that is not JSON`, res.statusCode);
    }
    if (!res.statusCode || res.statusCode >= 300) {
      const msg = (body as { message?: string }).message ?? `status ${res.statusCode}`;
      throw new KubeApiError(`GET ${path}: ${res.statusCode} ${msg}`, res.statusCode);
    }
    return body as T;
  }

  /**
   * The first of `preferred` versions the server serves for `group` that has `plural`, or
   * undefined when none does (the CRD is not installed).
   */
  async servedVersion(
    group: string,
    plural: string,
    preferred: readonly string[],
  ): Promise<string | undefined> {
    const groups = await this.getJson<{ groups?: { name: string; versions: { version: string }[] }[] }>(
      "/apis",
    );
    const served = groups.groups?.find((g) => g.name === group)?.versions.map((v) => v.version) ?? [];
    for (const v of preferred) {
      if (!served.includes(v)) continue;
      try {
        const rl = await this.getJson<{ resources?: { name: string }[] }>(`/apis/${group}/${v}`);
        if (rl.resources?.some((r) => r.name === plural)) return v;
      } catch (err) {
        if ((err as KubeApiError).status !== 404) throw err;
      }
    }
    return undefined;
  }
}
