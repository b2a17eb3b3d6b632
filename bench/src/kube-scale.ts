/**
 * Discovery at scale (issue 14 item 7): N services and M pods in the Kubernetes API fake, each
 * service with a DestinationRule and a lane VirtualService, every pod labelled with its lane.
 *
 *   pnpm bench:kube [--services 1000] [--pods 10000] [--requests 3000]
 *
 * Measured, at a small baseline size (10 services, 100 pods) and at the given size:
 * - in process (KubernetesSource): time to list everything and build the first snapshot, heap
 *   it holds, a full config rebuild (a VirtualService changed), an endpoint-only swap (one
 *   EndpointSlice changed), and the route decision + endpoint pick per request (ns; both sizes
 *   alternated at the end, in one heap, median of 5: it must not grow with the service count);
 * - a real `lanecar sidecar --discovery kubernetes` process: time to /ready, its RSS, the time from
 *   a gray pod's endpoint turning ready to the first request reaching it, and the mean latency
 *   of requests through it (so the per-request cost can be compared across sizes).
 * Results: a table on stdout and bench/results/kube-scale.json. Runs with vite-node (the fake is
 * TypeScript test support code); the sidecar runs the compiled CLI (`pnpm build` first).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigSnapshot } from "@lanecar/core";
import { KubernetesSource } from "../../packages/proxy/src/kubernetes/kubernetes-source.js";
import { KubeApiFake } from "../../test/support/kube-api-fake.js";
import {
  destinationRule,
  LANES_TRAFFIC_LABEL,
  laneVirtualService,
  pod,
  service,
  slice,
} from "../../test/support/kube-objects.js";
import { REPO_ROOT, RESULTS_DIR } from "./paths.js";

const LANECAR_BIN = join(REPO_ROOT, "packages", "cli", "bin", "lanecar.js");

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

export interface Size {
  services: number;
  pods: number;
}

export interface Figures extends Size {
  sourceStartMs: number;
  sourceHeapMB: number;
  configRebuildMs: number;
  endpointSwapMs: number;
  decisionNs: number;
  sidecarReadyMs: number;
  sidecarRssMB: number;
  podReadyToTrafficMs: number;
  requestMeanUs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ip(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** svc-0 is the one requests go to: its prod endpoint is a real server; the rest are fake IPs. */
function seed(api: KubeApiFake, size: Size, prodPort: number): void {
  api.apply(LANES_TRAFFIC_LABEL());
  const per = Math.max(1, Math.floor(size.pods / size.services));
  let n = 1;
  for (let s = 0; s < size.services; s++) {
    const name = `svc-${s}`;
    api.apply(service(name));
    api.apply(destinationRule(name));
    api.apply(laneVirtualService(name));
    const eps = [];
    for (let p = 0; p < per; p++) {
      const podName = `${name}-${p}`;
      api.apply(pod(podName, "default", { app: name, ASM_TRAFFIC_TAG: p % 2 === 0 ? "prod" : "canary" }));
      eps.push({ ip: s === 0 ? "127.0.0.1" : ip(n++), pod: podName });
    }
    if (s === 0) api.apply(slice(name, `${name}-main`, prodPort, eps.slice(0, 1)));
    else api.apply(slice(name, `${name}-main`, 9080, eps));
  }
}

function kubeconfigFile(api: KubeApiFake): string {
  const f = join(mkdtempSync(join(tmpdir(), "lanecar-kube-scale-")), "kubeconfig");
  writeFileSync(f, api.kubeconfig());
  return f;
}

function heapMB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1048576;
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(2);
  }
}

async function measureSource(
  api: KubeApiFake,
  size: Size,
): Promise<Partial<Figures> & { snapshot: ConfigSnapshot }> {
  const heap0 = heapMB();
  const t0 = performance.now();
  const src = await KubernetesSource.start({
    clusters: [{ kubeconfig: kubeconfigFile(api) }],
    paths: [],
    namespace: "default",
    batchMs: 1,
  });
  src.start();
  const sourceStartMs = performance.now() - t0;
  const snap0 = src.current;
  snap0.router("mesh"); // compile the route tables
  const sourceHeapMB = heapMB() - heap0;
  // An endpoint-only change, then a config change.
  const last = size.services - 1;
  const swaps = src.endpointCounts.swaps;
  api.apply(slice(`svc-${last}`, `svc-${last}-main`, 9080, [{ ip: "10.255.0.1", pod: `svc-${last}-0` }]));
  await until(() => src.endpointCounts.swaps > swaps, 30_000, "endpoint swap");
  const endpointSwapMs = src.lastBuildMs;
  const reloads = src.counts.success;
  const vs = laneVirtualService(`svc-${last}`);
  (vs.spec as { http: { name?: string }[] }).http[0]!.name = "changed";
  api.apply(vs);
  await until(() => src.counts.success > reloads, 60_000, "config rebuild");
  const configRebuildMs = src.lastBuildMs;
  src.stop();
  return { sourceStartMs, sourceHeapMB, configRebuildMs, endpointSwapMs, snapshot: src.current };
}

/** Route decision + endpoint pick for svc-0 from a gray pod (falls back to prod): ns per request. */
function decisionNs(snap: ConfigSnapshot): number {
  const router = snap.router("mesh");
  const req = {
    method: "GET",
    authority: "svc-0:9080",
    path: "/",
    scheme: "http",
    port: 9080,
    header: () => undefined,
  };
  const ctx = { gateway: "mesh", namespace: "default", podLabels: { ASM_TRAFFIC_TAG: "gray" } };
  const labels = { "x-asm-prefer-tag": "gray" };
  const avail = { isAvailable: () => true, activeRequests: () => 0 };
  const N = 300_000;
  for (let i = 0; i < 30_000; i++) router.route(req, ctx, labels, avail).cluster?.pick(avail);
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) router.route(req, ctx, labels, avail).cluster?.pick(avail);
  return Number(process.hrtime.bigint() - t1) / N;
}

function serve(body: string): Promise<Server> {
  const s = createServer((_q, r) => r.end(body));
  return new Promise((res) => s.listen(0, "127.0.0.1", () => res(s)));
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function get(agent: Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = request(
      { host: "127.0.0.1", port, path: "http://svc-0:9080/", headers: { host: "svc-0:9080" }, agent },
      (res) => {
        let b = "";
        res.on("data", (c) => {
          b += c;
        });
        res.on("end", () => resolve(b));
      },
    );
    r.on("error", reject);
    r.end();
  });
}

async function measureSidecar(api: KubeApiFake, requests: number): Promise<Partial<Figures>> {
  const gray = await serve("gray");
  const grayPort = (gray.address() as AddressInfo).port;
  const t0 = performance.now();
  // Every listener on port 0 (no race for ports): the "ready" log line says where they are.
  const child = spawn(
    process.execPath,
    [
      LANECAR_BIN,
      "sidecar",
      "--discovery",
      "kubernetes",
      "--kubeconfig",
      kubeconfigFile(api),
      "--service",
      "client",
      "--pod-labels",
      "app=client,ASM_TRAFFIC_TAG=gray",
      "--inbound",
      "127.0.0.1:0",
      "--outbound",
      "127.0.0.1:0",
      "--admin",
      "127.0.0.1:0",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (c) => {
    err += c;
  });
  try {
    let outbound = 0;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`sidecar exited: ${err}`);
      const m = /ready: .*outbound=127\.0\.0\.1:(\d+)/.exec(err);
      if (m) {
        outbound = Number(m[1]);
        break;
      }
      if (performance.now() - t0 > 120_000) throw new Error(`sidecar not ready: ${err}`);
      await sleep(10);
    }
    const sidecarReadyMs = performance.now() - t0;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    // Per-request latency: svc-0 from a gray pod (no gray instance yet: falls back to prod).
    for (let i = 0; i < 200; i++) await get(agent, outbound);
    const t1 = performance.now();
    for (let i = 0; i < requests; i++) await get(agent, outbound);
    const requestMeanUs = ((performance.now() - t1) * 1000) / requests;
    const sidecarRssMB = rssMB(child.pid!);
    // A gray pod appears not ready, then turns ready: how long until a request reaches it?
    api.apply(pod("svc-0-gray", "default", { app: "svc-0", ASM_TRAFFIC_TAG: "gray" }));
    api.apply(slice("svc-0", "svc-0-gray", grayPort, [{ ip: "127.0.0.1", pod: "svc-0-gray", ready: false }]));
    await sleep(500);
    if ((await get(agent, outbound)) === "gray") throw new Error("a not-ready endpoint got traffic");
    const t2 = performance.now();
    api.apply(slice("svc-0", "svc-0-gray", grayPort, [{ ip: "127.0.0.1", pod: "svc-0-gray" }]));
    while ((await get(agent, outbound)) !== "gray") {
      if (performance.now() - t2 > 30_000) throw new Error("gray never reached");
    }
    const podReadyToTrafficMs = performance.now() - t2;
    agent.destroy();
    return { sidecarReadyMs, sidecarRssMB, podReadyToTrafficMs, requestMeanUs };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
    gray.close();
  }
}

export async function run(size: Size, requests: number): Promise<Figures & { snapshot: ConfigSnapshot }> {
  const prod = await serve("prod");
  const api = await new KubeApiFake().start();
  try {
    seed(api, size, (prod.address() as AddressInfo).port);
    const a = await measureSource(api, size);
    const b = await measureSidecar(api, requests);
    return { ...size, ...a, ...b } as Figures & { snapshot: ConfigSnapshot };
  } finally {
    await api.close();
    prod.close();
  }
}

async function main(): Promise<void> {
  const size = { services: arg("services", 1000), pods: arg("pods", 10_000) };
  const requests = arg("requests", 3000);
  const runs: (Figures & { snapshot: ConfigSnapshot })[] = [];
  for (const s of [{ services: 10, pods: 100 }, size]) {
    process.stderr.write(`kube-scale: ${s.services} services, ${s.pods} pods...\n`);
    runs.push(await run(s, requests));
  }
  // The per-request decision cost of both sizes, alternated in one quiet heap (API fakes closed):
  // the median of 5 rounds each.
  const samples = runs.map(() => [] as number[]);
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < runs.length; i++) samples[i]!.push(decisionNs(runs[i]!.snapshot));
  }
  const rows: Figures[] = runs.map(({ snapshot: _s, ...r }, i) => ({
    ...r,
    decisionNs: samples[i]!.sort((a, b) => a - b)[2]!,
  }));
  const cols: [keyof Figures, string][] = [
    ["services", "services"],
    ["pods", "pods"],
    ["sourceStartMs", "list+build ms"],
    ["sourceHeapMB", "heap MB"],
    ["configRebuildMs", "config rebuild ms"],
    ["endpointSwapMs", "endpoint swap ms"],
    ["decisionNs", "decision ns"],
    ["sidecarReadyMs", "sidecar ready ms"],
    ["sidecarRssMB", "sidecar RSS MB"],
    ["podReadyToTrafficMs", "pod ready→traffic ms"],
    ["requestMeanUs", "request mean µs"],
  ];
  const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 0));
  const lines = [
    `| ${cols.map((c) => c[1]).join(" | ")} |`,
    `| ${cols.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${cols.map(([k]) => fmt(r[k] as number)).join(" | ")} |`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(
    join(RESULTS_DIR, "kube-scale.json"),
    `${JSON.stringify({ at: new Date().toISOString(), rows }, null, 2)}\n`,
  );
}

// Imported by its test (bench/test) under vitest: only the script runs the whole bench.
if (!process.env.VITEST) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`kube-scale: ${err.message}\n`);
      process.exit(1);
    },
  );
}
