/**
 * `lanecar iptables`, applied for real in a network namespace as the lanecar-init container does:
 * a pod with an app (root) and the real `lanecar sidecar` running as UID 1337 — both commands
 * (arguments, environment, user) taken from the pod `lanecar inject` makes — an upstream pod,
 * and the test client outside. Checked: inbound traffic is captured to the sidecar, the app's
 * outbound call to a service address is captured to the sidecar outbound, the sidecar's own
 * connections are not captured again (no loop), the admin port is exempt (kubelet's probe),
 * applying twice changes nothing, and `--cleanup` leaves iptables-save (v4 and v6) as before.
 * The sidecar also starts with its workload identity where the injected pod mounts it, the files
 * owned and moded as cert-manager's csi-driver-spiffe writes them with `fs-group: 1337` (root's,
 * group 1337, 0440), so the injected user and group can read the key and nobody else.
 * Needs root, iproute2 and iptables (the test says why when it cannot run), and `pnpm build`.
 */
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CAPTURE_DEFAULTS,
  captureRules,
  installed,
  restoreScript,
} from "../../packages/cli/src/kube/capture-rules.js";
import { IDENTITY_DIR } from "../../packages/cli/src/kube/inject-identity.js";
import { INJECT_DEFAULTS, injectPod } from "../../packages/cli/src/kube/inject-pod.js";
import { initCa, issueWorkload } from "../../packages/proxy/src/identity/index.js";
import { LANECAR_BIN } from "../support/lanecar.js";
import {
  cleanupStale,
  must,
  NetLab,
  type NsProcess,
  netnsUnavailable,
  type Pod,
  run,
} from "../support/netns.js";

describe("capture rules (pure)", () => {
  it("exempt the proxy UID and GID, loopback and the admin port; capture the rest both ways", () => {
    const v4 = captureRules(
      { ...CAPTURE_DEFAULTS, excludeInboundPorts: [22], excludeOutboundCidrs: ["10.0.0.0/8", "fd00::/8"] },
      4,
    );
    expect(v4).toContain("-A LANECAR_INBOUND -p tcp --dport 15000 -j RETURN");
    expect(v4).toContain("-A LANECAR_INBOUND -p tcp --dport 22 -j RETURN");
    expect(v4).toContain("-A LANECAR_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006");
    expect(v4).toContain("-A LANECAR_OUTPUT -m owner --uid-owner 1337 -j RETURN");
    expect(v4).toContain("-A LANECAR_OUTPUT -m owner --gid-owner 1337 -j RETURN");
    expect(v4).toContain("-A LANECAR_OUTPUT -d 10.0.0.0/8 -j RETURN");
    expect(v4.join("\n")).not.toContain("fd00::/8");
    expect(v4).toContain("-A LANECAR_REDIRECT -p tcp -j REDIRECT --to-ports 15001");
    expect(v4).toContain("-A LANECAR_INBOUND -p tcp -j LANECAR_IN_REDIRECT");
    const ports = captureRules({ ...CAPTURE_DEFAULTS, excludeOutboundPorts: [443] }, 4);
    expect(ports.indexOf("-A LANECAR_OUTPUT -p tcp --dport 443 -j RETURN")).toBeLessThan(
      ports.indexOf("-A LANECAR_OUTPUT -j LANECAR_REDIRECT"),
    );
    const only = captureRules({ ...CAPTURE_DEFAULTS, includeInboundPorts: [9080] }, 4);
    expect(only).toContain("-A LANECAR_INBOUND -p tcp --dport 9080 -j LANECAR_IN_REDIRECT");
    expect(only).not.toContain("-A LANECAR_INBOUND -p tcp -j LANECAR_IN_REDIRECT");
    const v6 = captureRules(
      { ...CAPTURE_DEFAULTS, includeOutboundCidrs: ["10.96.0.0/12", "fd00:10:96::/112"] },
      6,
    );
    expect(v6).toContain("-A LANECAR_OUTPUT -d ::1/128 -j RETURN");
    expect(v6).toContain("-A LANECAR_OUTPUT -d fd00:10:96::/112 -j LANECAR_REDIRECT");
    expect(v6.join("\n")).not.toContain("10.96.0.0/12");
  });

  it("a second run first removes the first run's jumps and chains; cleanup of nothing is nothing", () => {
    const first = restoreScript("", captureRules(CAPTURE_DEFAULTS, 4))!;
    const saved = `*nat\n:PREROUTING ACCEPT [0:0]\n:LANECAR_INBOUND - [0:0]\n:LANECAR_OLD - [0:0]\n-A PREROUTING -p tcp -j LANECAR_INBOUND\nCOMMIT\n`;
    expect(installed(saved)).toEqual({
      jumps: ["-A PREROUTING -p tcp -j LANECAR_INBOUND"],
      chains: ["LANECAR_INBOUND", "LANECAR_OLD"],
    });
    const second = restoreScript(saved, captureRules(CAPTURE_DEFAULTS, 4))!;
    expect(second.split("\n").slice(0, 2)).toEqual(["*nat", "-D PREROUTING -p tcp -j LANECAR_INBOUND"]);
    expect(second).toContain("-X LANECAR_OLD");
    expect(first).not.toContain("-D ");
    expect(restoreScript("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", null)).toBeUndefined();
    expect(restoreScript(saved, null)).toBe(
      "*nat\n-D PREROUTING -p tcp -j LANECAR_INBOUND\n:LANECAR_INBOUND - [0:0]\n:LANECAR_OLD - [0:0]\n-X LANECAR_INBOUND\n-X LANECAR_OLD\nCOMMIT\n",
    );
  });
});

const unavailable = await netnsUnavailable();
if (unavailable) console.warn(`lanecar iptables in a network namespace: cannot run here: ${unavailable}`);

interface Probe {
  httpGet: { path: string; port: number };
}

const APP = `
import { createServer } from "node:http";
const port = Number(process.env.PORT);
let seen = 0;
const handler = async (req, res) => {
  const reply = (status, body) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(body)); };
  seen++;
  if (req.url === "/ready") return reply(418, { app: "not the sidecar" });
  if (req.url === "/seen") return reply(200, { seen });
  if (req.url === "/call") {
    try {
      const r = await fetch("http://upstream:9080/echo", { signal: AbortSignal.timeout(1500), headers: { "x-request-id": req.headers["x-request-id"] ?? "none" } });
      return reply(r.status, await r.json());
    } catch (e) { return reply(502, { error: String(e.cause?.code ?? e.name) }); }
  }
  reply(200, { from: req.socket.remoteAddress, headers: req.headers });
};
createServer(handler).listen(port, "0.0.0.0");
// A second port of the app (say, metrics): not the sidecar's business.
if (process.env.EXTRA_PORT) createServer(handler).listen(Number(process.env.EXTRA_PORT), "0.0.0.0");
`;

/** iptables-save without the comment lines and counters. */
async function saved(pod: Pod, bin: "iptables-save" | "ip6tables-save"): Promise<string> {
  const out = await must("ip", ["netns", "exec", pod.ns, bin]);
  return out
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/, "[0:0]"))
    .join("\n");
}

/** GET on a new connection each time (a kept-alive one would predate the rules). */
function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, timeout: 4000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch {
          reject(new Error(`${url}: ${res.statusCode} ${text}`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
    req.on("error", reject);
  });
}

describe.skipIf(unavailable !== undefined)("lanecar iptables in a pod (network namespaces)", () => {
  let lab: NetLab;
  let pod: Pod;
  let upstream: Pod;
  let sidecar: NsProcess;
  const dir = mkdtempSync(join(tmpdir(), "lanecar-iptables-"));
  let before4 = "";
  let before6 = "";

  const lanecar = (args: string[]) =>
    must("ip", ["netns", "exec", pod.ns, process.execPath, LANECAR_BIN, "iptables", ...args]);

  // The pod as `lanecar inject` makes it: the commands below are its containers' own.
  const injected = injectPod(
    {
      metadata: { labels: { app: "app", version: "v1", ASM_TRAFFIC_TAG: "prod" } },
      spec: {
        containers: [
          {
            name: "app",
            image: "app",
            ports: [{ containerPort: 9080 }],
            // Kubelet's probes: the injector moves them to the sidecar's admin port.
            readinessProbe: { httpGet: { path: "/hello", port: 9080 } },
            livenessProbe: { httpGet: { path: "/ready", port: 9080 }, timeoutSeconds: 2 },
          },
        ],
      },
    },
    { ...INJECT_DEFAULTS, image: "lanecar:test", configSource: dir },
  );
  if (!injected.injected) throw new Error("not injected");
  const [init, proxy] = injected.pod.spec!.initContainers as {
    args: string[];
    env: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
    securityContext: { runAsUser: number; runAsGroup: number };
  }[];
  const initArgs = init!.args.slice(1);

  beforeAll(async () => {
    await cleanupStale();
    lab = await NetLab.create();
    upstream = await lab.addPod("up", 11);
    // The service address of `upstream`, as a ClusterIP: routed out of eth0, where nothing answers.
    pod = await lab.addPod("app", 10, { upstream: "10.96.0.10" });
    await must("ip", ["-n", pod.ns, "route", "add", "10.96.0.0/24", "dev", "eth0"]);
    writeFileSync(join(dir, "app.mjs"), APP);
    writeFileSync(
      join(dir, "upstream.yaml"),
      `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: upstream }
spec:
  hosts: [upstream]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: ${upstream.ip}, ports: { http: 9080 } }]
`,
    );
    chmodSync(dir, 0o755);
    // A rule of the pod's own, which must survive everything below.
    await must("ip", [
      "netns",
      "exec",
      pod.ns,
      "iptables",
      "-t",
      "nat",
      "-A",
      "OUTPUT",
      "-d",
      "192.0.2.1/32",
      "-p",
      "tcp",
      "-j",
      "RETURN",
    ]);
    await must("ip", [
      "netns",
      "exec",
      pod.ns,
      "ip6tables",
      "-t",
      "nat",
      "-A",
      "OUTPUT",
      "-d",
      "2001:db8::1/128",
      "-p",
      "tcp",
      "-j",
      "RETURN",
    ]);
    before4 = await saved(pod, "iptables-save");
    before6 = await saved(pod, "ip6tables-save");
    lab.spawn(upstream, "upstream", [process.execPath, join(dir, "app.mjs")], { PORT: "9080" });
    lab.spawn(pod, "app", [process.execPath, join(dir, "app.mjs")], { PORT: "9080", EXTRA_PORT: "9091" });
    // What kubelet provides: the downward-API volume (here a directory of ours) and the env.
    writeFileSync(join(dir, "labels"), 'ASM_TRAFFIC_TAG="prod"\napp="app"\nversion="v1"');
    // What csi-driver-spiffe mounts: the pod's credentials, root's, readable by fs-group 1337 only.
    const identity = join(dir, "identity");
    initCa(join(dir, "ca"));
    issueWorkload(join(dir, "ca"), identity, {
      namespace: "default",
      serviceAccount: "app-sa",
      ttlMs: 3600_000,
    });
    for (const f of readdirSync(identity)) {
      chownSync(join(identity, f), 0, 1337);
      chmodSync(join(identity, f), 0o440);
    }
    chownSync(identity, 0, 1337);
    chmodSync(identity, 0o550);
    const args = proxy!.args.map((a) =>
      a.replace("/etc/lanecar/podinfo", dir).replace(IDENTITY_DIR, identity),
    );
    const fields: Record<string, string> = {
      "metadata.namespace": "default",
      "metadata.labels['app']": "app",
      "spec.serviceAccountName": "app-sa",
    };
    const env = Object.fromEntries(
      proxy!.env.map((e) => [e.name, e.value ?? fields[e.valueFrom!.fieldRef.fieldPath]!]),
    );
    const { LANECAR_APP_PROBES: probes, ...fromPod } = env;
    expect(JSON.parse(probes!)).toEqual({
      "/app-health/app/readyz": { port: 9080, path: "/hello", timeoutSeconds: 1 },
      "/app-health/app/livez": { port: 9080, path: "/ready", timeoutSeconds: 2 },
    });
    expect(fromPod).toEqual({
      LANECAR_NAMESPACE: "default",
      LANECAR_SERVICE: "app",
      LANECAR_SERVICE_ACCOUNT: "app-sa",
    });
    const { runAsUser, runAsGroup } = proxy!.securityContext;
    sidecar = lab.spawn(
      pod,
      "sidecar",
      [
        "setpriv",
        "--reuid",
        String(runAsUser),
        "--regid",
        String(runAsGroup),
        "--clear-groups",
        process.execPath,
        LANECAR_BIN,
        ...args,
      ],
      env,
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`http://${pod.ip}:15000/ready`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      const app = await fetch(`http://${upstream.ip}:9080/seen`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok && app) break;
      if (sidecar.exited() || Date.now() > deadline)
        throw new Error(`sidecar not ready: ${sidecar.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the injected sidecar (UID/GID 1337) reads the identity the CSI volume holds: its pod's SPIFFE ID", async () => {
    const dump = (await (await fetch(`http://${pod.ip}:15000/config_dump`)).json()) as {
      workloadCertificate?: { spiffeId: string };
    };
    expect(dump.workloadCertificate?.spiffeId).toBe("spiffe://cluster.local/ns/default/sa/app-sa");
  });

  it("kubelet's rewritten probes: the admin port answers with the app's own status, nothing else", async () => {
    const probe = (path: string) => fetch(`http://${pod.ip}:15000${path}`).then((r) => r.status);
    // What kubelet now asks, as the injected probes say (the app answers /hello 200, /ready 418).
    const [ready, live] = (
      injected.pod.spec!.containers as unknown as { readinessProbe: Probe; livenessProbe: Probe }[]
    ).map((c) => [c.readinessProbe.httpGet, c.livenessProbe.httpGet])[0]!;
    expect([ready!.port, live!.port]).toEqual([15000, 15000]);
    expect(await probe(ready!.path)).toBe(200);
    expect(await probe(live!.path)).toBe(418);
    expect(await probe("/app-health/app/startupz")).toBe(404);
    expect(await probe("/app-health/other/readyz")).toBe(404);
  });

  it("without the rules the app is reached directly and its service call goes nowhere", async () => {
    const direct = await getJson(`http://${pod.ip}:9080/hello`);
    expect(direct.body.from).toBe(lab.hostIp);
    expect((direct.body.headers as Record<string, string>)["x-request-id"]).toBeUndefined();
    expect((await getJson(`http://${pod.ip}:9080/call`)).status).toBe(502);
  });

  it("with the rules: inbound through the sidecar, outbound through the sidecar, no loop, admin exempt", async () => {
    // lanecar-init's command, as injected.
    const out = await lanecar(initArgs);
    expect(out).toMatch(/inbound -> 15006, outbound -> 15001, uid 1337 and port 15000 exempt \(IPv4\+IPv6\)/);
    // Inbound: the app now sees the sidecar (loopback) and the x-request-id it generates.
    const hello = await getJson(`http://${pod.ip}:9080/hello`);
    expect(hello.status).toBe(200);
    expect(hello.body.from).toBe("127.0.0.1");
    expect((hello.body.headers as Record<string, string>)["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    // Outbound: the call to the service address reaches the upstream pod, from the app pod's IP,
    // through the sidecar (it carries the inbound request's x-request-id, and the sidecar counts it).
    const seenBefore = (await getJson(`http://${upstream.ip}:9080/seen`)).body.seen as number;
    const calls = 3;
    for (let i = 0; i < calls; i++) {
      const call = await getJson(`http://${pod.ip}:9080/call`);
      expect(call.status, JSON.stringify(call.body)).toBe(200);
      expect(call.body.from).toBe(pod.ip);
      expect((call.body.headers as Record<string, string>).host).toBe("upstream:9080");
    }
    // Exactly one request per call reached the upstream: the sidecar's own connection was not
    // captured again (a loop would send it back to 15001 and never reach the upstream).
    const seenAfter = (await getJson(`http://${upstream.ip}:9080/seen`)).body.seen as number;
    expect(seenAfter - seenBefore).toBe(calls + 1); // + the /seen request itself
    const metrics = await (await fetch(`http://${pod.ip}:15000/metrics`)).text();
    const outbound = metrics
      .split("\n")
      .filter(
        (l) =>
          l.startsWith("istio_requests_total{") && l.includes('reporter="source"') && l.includes("upstream"),
      )
      .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
    expect(outbound).toBe(calls);
    // The admin port is not captured: /ready is the sidecar's, not the app's 418.
    expect((await fetch(`http://${pod.ip}:15000/ready`)).status).toBe(200);
    // Only the app's port is captured inbound: its other port is reached directly.
    expect((await getJson(`http://${pod.ip}:9091/hello`)).body.from).toBe(lab.hostIp);
  });

  it("applying twice changes nothing; --cleanup leaves iptables-save as it was (v4 and v6)", async () => {
    const once4 = await saved(pod, "iptables-save");
    const once6 = await saved(pod, "ip6tables-save");
    expect(once4).toContain(":LANECAR_OUTPUT");
    expect(once6).toContain("-A OUTPUT -p tcp -j LANECAR_OUTPUT");
    await lanecar(initArgs);
    expect(await saved(pod, "iptables-save")).toBe(once4);
    expect(await saved(pod, "ip6tables-save")).toBe(once6);
    expect(await lanecar(["--cleanup"])).toMatch(/capture rules removed/);
    expect(await saved(pod, "iptables-save")).toBe(before4);
    expect(await saved(pod, "ip6tables-save")).toBe(before6);
    expect(before4).toContain("-A OUTPUT -d 192.0.2.1/32 -p tcp -j RETURN");
    // A second cleanup has nothing to do; the app is reached directly again.
    await lanecar(["--cleanup"]);
    expect(await saved(pod, "iptables-save")).toBe(before4);
    expect((await getJson(`http://${pod.ip}:9080/hello`)).body.from).toBe(lab.hostIp);
  });

  it("bad flags: one line, exit 2, nothing applied", async () => {
    const r = await run("ip", [
      "netns",
      "exec",
      pod.ns,
      process.execPath,
      LANECAR_BIN,
      "iptables",
      "--exclude-outbound-cidrs",
      "10.0.0.0/33",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'lanecar iptables: --exclude-outbound-cidrs "10.0.0.0/33" is not an IPv4 or IPv6 CIDR',
    );
    expect(await saved(pod, "iptables-save")).toBe(before4);
  });
});
