/**
 * Issue 14 discovery, end to end: real `lanecar sidecar` and `lanecar gateway` processes run with
 * `--discovery kubernetes` against the API fake (a kubeconfig pointing at it) and serve a
 * Bookinfo-like chain productpage → reviews → ratings of real apps on real sockets. Everything a
 * process knows comes from the API: Services, EndpointSlices, Pods (ASM_TRAFFIC_TAG labels),
 * TrafficLabel, DestinationRules, VirtualServices, the Gateway. Scaling reviews-v2 through the
 * API moves the gray lane to it and back, a not-ready endpoint falls back (`noavailabled`),
 * deleting a VirtualService restores the default route, and cut / expired watches converge.
 */

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Hop, path, startApp, type TestApp } from "../support/apps.js";
import { KubeApiFake } from "../support/kube-api-fake.js";
import {
  destinationRule,
  edgeGateway,
  edgeVirtualService,
  LANES_TRAFFIC_LABEL,
  laneVirtualService,
  pod,
  service,
  slice,
} from "../support/kube-objects.js";
import { LANECAR_BIN, type Running, waitReady } from "../support/lanecar.js";
import { metric } from "../support/metrics.js";
import { freePorts } from "../support/ports.js";

interface Inst {
  service: string;
  version: string;
  lane: string;
  calls: string[];
  ports: { app: number; inbound: number; outbound: number; admin: number };
  app?: TestApp;
  sidecar?: Running;
}

const api = new KubeApiFake();
const insts: Inst[] = [];
let gateway: Running | undefined;
let gw = "";
let kubeconfig = "";

const lanesOf = (body: string) => path(JSON.parse(body) as Hop).join(" ");
const labelsOf = (i: Inst) => ({ app: i.service, version: i.version, ASM_TRAFFIC_TAG: i.lane });
const podName = (i: Inst) => `${i.service}-${i.version}-0`;
const find = (svc: string, version: string) => insts.find((i) => i.service === svc && i.version === version)!;

/** The pod and its ready endpoint appear: what a Deployment scaled to 1 shows through the API. */
function scaleUp(i: Inst): void {
  api.apply(pod(podName(i), "default", labelsOf(i)));
  api.apply(slice(i.service, podName(i), i.ports.inbound, [{ ip: "127.0.0.1", pod: podName(i) }]));
}

async function get(headers: Record<string, string> = {}): Promise<string> {
  const r = await fetch(gw, { headers });
  const body = await r.text();
  if (r.status !== 200) throw new Error(`gateway answered ${r.status}: ${body}`);
  return lanesOf(body);
}

/** Polls until `want` is served; returns how long it took (ms). */
async function until(headers: Record<string, string>, want: string, ms = 8000): Promise<number> {
  const t0 = performance.now();
  let last = "";
  while (performance.now() - t0 < ms) {
    last = await get(headers).catch((e: Error) => e.message);
    if (last === want) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
  }
  const pp = insts[0]!.ports.admin;
  const clusters = await (await fetch(`http://127.0.0.1:${pp}/clusters?format=json`)).text();
  throw new Error(`still "${last}" after ${ms} ms, wanted "${want}"; productpage's clusters: ${clusters}`);
}

const gray = { "x-asm-prefer-tag": "gray" };

/**
 * `lanecar ...` with a start-up allowance for a loaded machine: discovery loads the Kubernetes
 * client and lists every resource before the process says ready.
 */
async function startLanecar(args: string[], admin: string): Promise<Running> {
  const child = spawn(process.execPath, [LANECAR_BIN, ...args, "--admin", admin], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  let out = "";
  child.stderr!.on("data", (c) => {
    err += c.toString();
  });
  child.stdout!.on("data", (c) => {
    out += c.toString();
  });
  await waitReady(admin, 60_000, child, () => err);
  return {
    child,
    admin,
    stderr: () => err,
    stdout: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
        child.kill("SIGTERM");
      }),
  };
}

beforeAll(async () => {
  await api.start();
  kubeconfig = join(mkdtempSync(join(tmpdir(), "lanecar-kube-e2e-")), "kubeconfig");
  writeFileSync(kubeconfig, api.kubeconfig());
  const plan = [
    { service: "productpage", version: "v1", lane: "prod", calls: ["reviews:9080"] },
    { service: "reviews", version: "v1", lane: "prod", calls: ["ratings:9080"] },
    { service: "reviews", version: "v2", lane: "gray", calls: ["ratings:9080"] },
    { service: "ratings", version: "v1", lane: "prod", calls: [] },
  ];
  const ports = await freePorts(plan.length * 4 + 2);
  plan.forEach((p, n) => {
    const [app, inbound, outbound, admin] = ports.slice(n * 4, n * 4 + 4) as [number, number, number, number];
    insts.push({ ...p, ports: { app, inbound, outbound, admin } });
  });
  for (const s of ["productpage", "reviews", "ratings"]) {
    api.apply(service(s));
    api.apply(destinationRule(s));
    api.apply(laneVirtualService(s));
  }
  api.apply(LANES_TRAFFIC_LABEL());
  api.apply(edgeGateway());
  api.apply(edgeVirtualService("productpage"));
  // reviews-v2 runs (its process is up) but is scaled to 0: no pod, no endpoint in the API.
  for (const i of insts) if (i.version === "v1") scaleUp(i);
  await Promise.all(
    insts.map(async (i) => {
      i.app = await startApp({
        service: i.service,
        version: i.version,
        port: i.ports.app,
        calls: i.calls,
        proxy: `127.0.0.1:${i.ports.outbound}`,
      });
      i.sidecar = await startLanecar(
        [
          "sidecar",
          "--discovery",
          "kubernetes",
          "--kubeconfig",
          kubeconfig,
          "--service",
          i.service,
          "--pod-labels",
          Object.entries(labelsOf(i))
            .map(([k, v]) => `${k}=${v}`)
            .join(","),
          "--inbound",
          `127.0.0.1:${i.ports.inbound}`,
          "--outbound",
          `127.0.0.1:${i.ports.outbound}`,
          "--app",
          `http://127.0.0.1:${i.ports.app}`,
        ],
        `127.0.0.1:${i.ports.admin}`,
      );
    }),
  );
  const [gwPort, gwAdmin] = ports.slice(plan.length * 4) as [number, number];
  gateway = await startLanecar(
    ["gateway", "--discovery", "kubernetes", "--kubeconfig", kubeconfig, "--listen", `127.0.0.1:${gwPort}`],
    `127.0.0.1:${gwAdmin}`,
  );
  gw = `http://127.0.0.1:${gwPort}/`;
}, 120_000);

afterAll(async () => {
  const codes = await Promise.all([gateway?.stop(), ...insts.map((i) => i.sidecar?.stop())]);
  expect(codes).toEqual([0, 0, 0, 0, 0]);
  await Promise.all(insts.map((i) => i.app?.close()));
  await api.close();
}, 60_000);

describe("sidecars and a gateway discover Bookinfo from the Kubernetes API", () => {
  it("serves prod, and gray falls back to prod where the lane has no instance", async () => {
    expect(await get()).toBe("productpage=v1 reviews=v1 ratings=v1");
    expect(await get(gray)).toBe("productpage=v1 reviews=v1 ratings=v1");
  });

  it("scaling reviews-v2 0 → 1 → 0 through the API moves gray traffic to it and back, within a second", async () => {
    const v2 = find("reviews", "v2");
    scaleUp(v2);
    const up = await until(gray, "productpage=v1 reviews=v2 ratings=v1");
    expect(await get()).toBe("productpage=v1 reviews=v1 ratings=v1");
    // Scale-down as Kubernetes does it: the endpoint turns terminating (not ready), then goes.
    const before = await metric(
      `127.0.0.1:${find("productpage", "v1").ports.admin}`,
      "istio_requests_total",
      {
        fallback: "noavailabled",
      },
    );
    api.apply(
      slice("reviews", podName(v2), v2.ports.inbound, [
        { ip: "127.0.0.1", pod: podName(v2), ready: false, terminating: true },
      ]),
    );
    const down = await until(gray, "productpage=v1 reviews=v1 ratings=v1");
    // The not-ready endpoint is still an instance of the gray subset: the fallback was noavailabled.
    const after = await metric(`127.0.0.1:${find("productpage", "v1").ports.admin}`, "istio_requests_total", {
      fallback: "noavailabled",
    });
    expect(after).toBeGreaterThan(before);
    const clusters = (await (
      await fetch(`http://127.0.0.1:${find("productpage", "v1").ports.admin}/clusters?format=json`)
    ).json()) as { host: string; subset: string | null; endpoints: { port: number; ready: boolean }[] }[];
    const grayReviews = clusters.find((c) => c.host.startsWith("reviews.") && c.subset === "gray");
    expect(grayReviews?.endpoints).toEqual([
      expect.objectContaining({ port: v2.ports.inbound, ready: false }),
    ]);
    api.delete("discovery.k8s.io/v1", "EndpointSlice", "default", podName(v2));
    api.delete("v1", "Pod", "default", podName(v2));
    process.stdout.write(
      `discovery e2e: gray reached reviews-v2 ${up.toFixed(0)} ms after scale-up, left it ${down.toFixed(0)} ms after not-ready\n`,
    );
    // "Within a second" on a quiet machine; generous here because the machine is shared.
    expect(up).toBeLessThan(3000);
    expect(down).toBeLessThan(3000);
    expect(await get(gray)).toBe("productpage=v1 reviews=v1 ratings=v1");
  });

  it("deleting a VirtualService restores the default route (every instance, no lane)", async () => {
    const v2 = find("reviews", "v2");
    scaleUp(v2);
    await until(gray, "productpage=v1 reviews=v2 ratings=v1");
    for (let n = 0; n < 6; n++) expect(await get()).toBe("productpage=v1 reviews=v1 ratings=v1");
    api.delete("networking.istio.io/v1", "VirtualService", "default", "reviews");
    const seen = new Set<string>();
    const end = Date.now() + 8000;
    while (seen.size < 2 && Date.now() < end) seen.add(await get());
    expect(seen).toEqual(
      new Set(["productpage=v1 reviews=v1 ratings=v1", "productpage=v1 reviews=v2 ratings=v1"]),
    );
    api.apply(laneVirtualService("reviews"));
    // Applied when the productpage sidecar (the one routing to reviews) has it again.
    const pp = `http://127.0.0.1:${find("productpage", "v1").ports.admin}/config_dump`;
    const end2 = Date.now() + 8000;
    for (;;) {
      const d = (await (await fetch(pp)).json()) as { resources: { kind: string; name: string }[] };
      if (d.resources.some((r) => r.kind === "VirtualService" && r.name === "reviews")) break;
      if (Date.now() > end2) throw new Error("VirtualService reviews not applied again");
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let n = 0; n < 6; n++) expect(await get()).toBe("productpage=v1 reviews=v1 ratings=v1");
  });

  it("a cut watch and a 410 converge with nothing lost", async () => {
    const v2 = find("reviews", "v2");
    await until(gray, "productpage=v1 reviews=v2 ratings=v1");
    // Cut every watch of every process, change things while they reconnect.
    expect(api.cutWatches()).toBeGreaterThan(0);
    api.delete("discovery.k8s.io/v1", "EndpointSlice", "default", podName(v2));
    api.delete("v1", "Pod", "default", podName(v2));
    await until(gray, "productpage=v1 reviews=v1 ratings=v1");
    // Cut again, change, and compact history: resuming watches get 410 and must re-list.
    await new Promise((r) => setTimeout(r, 300));
    api.cutWatches();
    scaleUp(v2);
    api.compact();
    await until(gray, "productpage=v1 reviews=v2 ratings=v1");
    // An ERROR 410 on open watches, then a deletion: seen too.
    await new Promise((r) => setTimeout(r, 300));
    api.expireWatches();
    api.delete("discovery.k8s.io/v1", "EndpointSlice", "default", podName(v2));
    await until(gray, "productpage=v1 reviews=v1 ratings=v1");
    const dump = (await (await fetch(`http://${gateway!.admin}/config_dump`)).json()) as {
      discovery: { clusters: { informers: { lists: number; restarts: number }[] }[] };
    };
    const infs = dump.discovery.clusters[0]!.informers;
    expect(infs.some((i) => i.restarts > 0)).toBe(true);
    expect(infs.some((i) => i.lists > 1)).toBe(true);
  });
});
