/**
 * A small mesh for end-to-end tests: services with prod/gray instances, each instance an app
 * plus its own `lanecar sidecar` process on loopback, and a `lanecar gateway` in front. The
 * config is real Istio/ASM YAML written to a temp dir (kept on failure for reading).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApp, type TestApp } from "./apps.js";
import { type Running, startLanecar } from "./lanecar.js";
import { freePorts } from "./ports.js";
import { LANES_LABEL } from "./yaml.js";

export interface InstanceSpec {
  service: string;
  lane: string;
  calls?: string[];
}

export interface Instance extends InstanceSpec {
  version: string;
  appPort: number;
  inbound: number;
  outbound: number;
  admin: number;
  app?: TestApp;
  sidecar?: Running;
}

export interface MeshOptions {
  instances: InstanceSpec[];
  /** Probe period for WorkloadGroup health checks (ms); 0 = no probes. */
  probeMs?: number;
  /** Extra YAML appended to the config. */
  extraYaml?: string;
  /** Extra environment of every sidecar and the gateway (e.g. OTEL_* variables). */
  env?: Record<string, string>;
  /** Extra flags of every sidecar and the gateway (e.g. --access-log). */
  args?: string[];
}

export class Mesh {
  readonly dir: string;
  readonly instances: Instance[] = [];
  gateway?: Running;
  gatewayPort = 0;
  gatewayAdmin = 0;

  constructor(readonly opts: MeshOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "lanecar-mesh-"));
  }

  get configPath(): string {
    return join(this.dir, "mesh.yaml");
  }

  async allocate(): Promise<void> {
    const n = this.opts.instances.length;
    const ports = await freePorts(n * 4 + 2);
    this.opts.instances.forEach((s, i) => {
      this.instances.push({
        ...s,
        version: s.lane === "prod" ? "v1" : "v2",
        appPort: ports[i * 4]!,
        inbound: ports[i * 4 + 1]!,
        outbound: ports[i * 4 + 2]!,
        admin: ports[i * 4 + 3]!,
      });
    });
    this.gatewayPort = ports[n * 4]!;
    this.gatewayAdmin = ports[n * 4 + 1]!;
    writeFileSync(this.configPath, this.yaml());
  }

  yaml(): string {
    const services = [...new Set(this.instances.map((i) => i.service))];
    const docs: string[] = [
      LANES_LABEL,
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  # Testers choose a lane with the lane header: this match grants the client's value.
  - name: lane-from-header
    match: [{headers: {x-asm-prefer-tag: {regex: "[a-z0-9-]+"}}}]
    route:
    - destination: {host: ${services[0]}, subset: $x-asm-prefer-tag}
      fallback: {case: noinstances|noavailabled, target: {host: ${services[0]}, subset: prod}}
  - name: default
    route:
    - destination: {host: ${services[0]}, subset: $x-asm-prefer-tag}
      fallback: {case: noinstances|noavailabled, target: {host: ${services[0]}, subset: prod}}`,
    ];
    for (const svc of services) {
      const inst = this.instances.filter((i) => i.service === svc);
      docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${svc}}
spec:
  hosts: [${svc}]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
${inst.map((i) => `  - {address: 127.0.0.1, ports: {http: ${i.inbound}}, labels: {app: ${svc}, version: ${i.version}, ASM_TRAFFIC_TAG: ${i.lane}}}`).join("\n")}`);
      docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${svc}}
spec:
  host: ${svc}
  subsets:
  - {name: prod, labels: {ASM_TRAFFIC_TAG: prod}}
  - {name: gray, labels: {ASM_TRAFFIC_TAG: gray}}`);
      docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${svc}}
spec:
  hosts: [${svc}]
  http:
  - route:
    - destination: {host: ${svc}, subset: $x-asm-prefer-tag}
      fallback: {case: noinstances|noavailabled, target: {host: ${svc}, subset: prod}}`);
      if (this.opts.probeMs) {
        for (const i of inst) {
          docs.push(`apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: ${svc}-${i.lane}}
spec:
  metadata: {labels: {app: ${svc}, ASM_TRAFFIC_TAG: ${i.lane}}}
  probe:
    periodSeconds: 1
    timeoutSeconds: 1
    failureThreshold: 1
    successThreshold: 1
    httpGet: {path: /health, port: ${i.inbound}}`);
        }
      }
    }
    if (this.opts.extraYaml) docs.push(this.opts.extraYaml);
    return `${docs.join("\n---\n")}\n`;
  }

  async startInstance(i: Instance): Promise<void> {
    i.app = await startApp({
      service: i.service,
      version: i.version,
      port: i.appPort,
      calls: i.calls,
      proxy: `127.0.0.1:${i.outbound}`,
    });
    i.sidecar = await startLanecar(
      [
        "sidecar",
        "--config",
        this.configPath,
        "--service",
        i.service,
        "--pod-labels",
        `app=${i.service},version=${i.version},ASM_TRAFFIC_TAG=${i.lane}`,
        "--inbound",
        `127.0.0.1:${i.inbound}`,
        "--outbound",
        `127.0.0.1:${i.outbound}`,
        "--app",
        `http://127.0.0.1:${i.appPort}`,
        ...(this.opts.args ?? []),
      ],
      `127.0.0.1:${i.admin}`,
      this.opts.env,
    );
  }

  async stopInstance(i: Instance): Promise<void> {
    await Promise.all([i.sidecar?.stop("SIGKILL"), i.app?.close()]);
    i.sidecar = undefined;
    i.app = undefined;
  }

  async start(): Promise<void> {
    await this.allocate();
    await Promise.all(this.instances.map((i) => this.startInstance(i)));
    this.gateway = await startLanecar(
      [
        "gateway",
        "--config",
        this.configPath,
        "--listen",
        `127.0.0.1:${this.gatewayPort}`,
        ...(this.opts.args ?? []),
      ],
      `127.0.0.1:${this.gatewayAdmin}`,
      this.opts.env,
    );
    if (this.opts.probeMs) await this.healthy();
  }

  /**
   * With probes on, waits until every running sidecar and the gateway see every endpoint of a
   * running instance healthy: instances start together, so a sidecar's first probe of a callee
   * that was not up yet marks it down until the next probe period.
   */
  async healthy(timeoutMs = 10_000): Promise<void> {
    const up = new Set(this.instances.filter((i) => i.sidecar).map((i) => `127.0.0.1:${i.inbound}`));
    const admins = [
      ...this.instances.filter((i) => i.sidecar).map((i) => `127.0.0.1:${i.admin}`),
      ...(this.gateway ? [`127.0.0.1:${this.gatewayAdmin}`] : []),
    ];
    const until = Date.now() + timeoutMs;
    for (;;) {
      let down = "";
      for (const admin of admins) {
        const clusters = (await (await fetch(`http://${admin}/clusters?format=json`)).json()) as {
          endpoints: { address: string; port: number; health: { healthy: boolean } }[];
        }[];
        for (const c of clusters)
          for (const e of c.endpoints)
            if (up.has(`${e.address}:${e.port}`) && !e.health.healthy)
              down = `${admin} sees ${e.address}:${e.port} down`;
      }
      if (!down) return;
      if (Date.now() > until) throw new Error(`mesh not healthy after ${timeoutMs} ms: ${down}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  find(service: string, lane: string): Instance {
    const i = this.instances.find((x) => x.service === service && x.lane === lane);
    if (!i) throw new Error(`no instance ${service}/${lane}`);
    return i;
  }

  async stop(): Promise<void> {
    await Promise.all([this.gateway?.stop(), ...this.instances.map((i) => this.stopInstance(i))]);
  }
}
