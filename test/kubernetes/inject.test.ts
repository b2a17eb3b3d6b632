/**
 * `lanecar inject` on Istio's own Bookinfo manifests (../shared/conformance/istio/bookinfo-kube,
 * read at test time) and on every injectable kind: the output is valid against the Kubernetes API
 * schema (kubernetes-models), every workload gets the sidecar exactly as SPEC section 11 says,
 * everything else is untouched, injecting twice changes nothing, and the opt-out holds. The pod
 * mutation's properties are also checked on generated pods (fast-check).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  INJECT_DEFAULTS,
  injectPod,
  type JsonObject,
  type PodLike,
} from "../../packages/cli/src/kube/inject-pod.js";
import { main } from "../../packages/cli/src/main.js";
import { LANECAR_BIN } from "../support/lanecar.js";
import { docs, isBuiltIn, type Obj, REPO, validateBuiltIn, yamlFiles } from "./schemas.js";

const BOOKINFO_KUBE = join(REPO, "../shared/conformance/istio/bookinfo-kube");
const tmp = mkdtempSync(join(tmpdir(), "lanecar-inject-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function inject(argv: string[]): Promise<{ code: number; out: string; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(["inject", ...argv], { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
  return { code, out: out.join("\n"), err };
}

function fileWith(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const WORKLOADS = new Set(["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]);

/** The pod template of a workload (the object itself for a Pod). */
function template(o: Obj): { metadata?: Obj; spec: Obj } {
  if (o.kind === "Pod") return o as { spec: Obj };
  if (o.kind === "CronJob")
    return ((o.spec as Obj).jobTemplate as { spec: { template: { spec: Obj } } }).spec.template;
  return (o.spec as { template: { spec: Obj } }).template;
}

function names(list: unknown): string[] {
  return ((list as { name: string }[] | undefined) ?? []).map((c) => c.name);
}

function args0(c: JsonObject): string {
  return (c.args as string[])[0]!;
}

const IDENTITY_DIR = "/var/run/secrets/lanecar/identity";

/**
 * The workload identity (issue 15): cert-manager's csi-driver-spiffe volume readable by the
 * sidecar's group only, `--identity-dir` on it, the service account from the pod, and Istio's
 * `security.istio.io/tlsMode` label (a value the pod has is kept). `identity: false`: none of it.
 */
function expectIdentity(
  before: { metadata?: Obj; spec: Obj },
  after: { metadata?: Obj; spec: Obj },
  proxy: JsonObject,
  identity: boolean,
) {
  const args = proxy.args as string[];
  const volume = (after.spec.volumes as Obj[]).find((v) => v.name === "lanecar-identity");
  const labels = (before.metadata?.labels ?? {}) as Obj;
  if (!identity) {
    expect(volume).toBeUndefined();
    expect(args).not.toContain("--identity-dir");
    expect(after.metadata?.labels).toEqual(before.metadata?.labels);
    return;
  }
  expect(volume).toEqual({
    name: "lanecar-identity",
    csi: {
      driver: "spiffe.csi.cert-manager.io",
      readOnly: true,
      volumeAttributes: { "spiffe.csi.cert-manager.io/fs-group": "1337" },
    },
  });
  expect(proxy.volumeMounts).toContainEqual({
    name: "lanecar-identity",
    mountPath: IDENTITY_DIR,
    readOnly: true,
  });
  expect(args[args.indexOf("--identity-dir") + 1]).toBe(IDENTITY_DIR);
  expect(proxy.env).toContainEqual({
    name: "LANECAR_SERVICE_ACCOUNT",
    valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "spec.serviceAccountName" } },
  });
  // No app container mounts the identity: the key is the sidecar's alone.
  for (const c of [
    ...(after.spec.containers as JsonObject[]),
    ...((after.spec.initContainers ?? []) as JsonObject[]),
  ])
    if (c.name !== "lanecar-proxy") expect(names(c.volumeMounts)).not.toContain("lanecar-identity");
  expect(after.metadata?.labels).toEqual({
    ...labels,
    "security.istio.io/tlsMode": labels["security.istio.io/tlsMode"] ?? "istio",
  });
}

/**
 * The app containers are as they were but for their HTTP probes, which (with an identity) ask the
 * sidecar's admin port `/app-health/<container>/<kind>`; the sidecar gets the originals as
 * `LANECAR_APP_PROBES`, with their port resolved and their timing fields kept.
 */
function expectProbesMoved(before: JsonObject[], after: JsonObject[], proxy: JsonObject, identity: boolean) {
  const env = (proxy.env as { name: string; value?: string }[]).find((e) => e.name === "LANECAR_APP_PROBES");
  const moved = env
    ? (JSON.parse(env.value!) as Record<string, { port: number; path: string; timeoutSeconds: number }>)
    : {};
  const kinds = { readinessProbe: "readyz", livenessProbe: "livez", startupProbe: "startupz" } as const;
  let expectedMoves = 0;
  expect(after.length).toBe(before.length);
  before.forEach((b, i) => {
    const a = after[i]!;
    const rest = (c: JsonObject) => {
      const { readinessProbe: _r, livenessProbe: _l, startupProbe: _s, ...others } = c;
      return others;
    };
    expect(rest(a)).toEqual(rest(b));
    for (const [field, kind] of Object.entries(kinds) as [keyof typeof kinds, string][]) {
      const probe = b[field] as
        | { httpGet?: { port: number | string; path?: string }; timeoutSeconds?: number }
        | undefined;
      const port = typeof probe?.httpGet?.port === "number" ? probe.httpGet.port : undefined;
      if (!identity || !probe?.httpGet || port === undefined) {
        expect(a[field]).toEqual(b[field]);
        continue;
      }
      expectedMoves++;
      const path = `/app-health/${String(b.name)}/${kind}`;
      expect(a[field]).toEqual({ ...probe, httpGet: { path, port: 15000, scheme: "HTTP" } });
      expect(moved[path]).toMatchObject({
        port,
        path: probe.httpGet.path,
        timeoutSeconds: probe.timeoutSeconds ?? 1,
      });
    }
  });
  expect(Object.keys(moved)).toHaveLength(expectedMoves);
}

/** Checks one injected pod template against its original: SPEC section 11, apps untouched. */
function expectInjected(
  before: { metadata?: Obj; spec: Obj },
  after: { metadata?: Obj; spec: Obj },
  native = true,
  source = ["--discovery", "kubernetes"],
  identity = true,
) {
  const spec = after.spec;
  const inits = spec.initContainers as JsonObject[];
  const containers = spec.containers as JsonObject[];
  expect(inits[0]!.name).toBe("lanecar-init");
  expect(inits[0]!.args).toEqual(expect.arrayContaining(["iptables", "--proxy-uid", "1337"]));
  // Inbound capture is limited to the app's port (the first declared TCP port, else 8080).
  const ports = (before.spec.containers as { ports?: { containerPort: number }[] }[]).flatMap(
    (c) => c.ports ?? [],
  );
  const initArgs = inits[0]!.args as string[];
  expect(initArgs[initArgs.indexOf("--include-inbound-ports") + 1]).toBe(
    String(ports[0]?.containerPort ?? 8080),
  );
  expect(args0(inits[0]!)).toBe("iptables");
  // TLS cannot go through the HTTP/1.1 sidecar: port 443 goes out directly by default.
  expect(initArgs[initArgs.indexOf("--exclude-outbound-ports") + 1]).toBe("443");
  expect((inits[0]!.securityContext as Obj).capabilities).toEqual({
    add: ["NET_ADMIN", "NET_RAW"],
    drop: ["ALL"],
  });
  const proxy = (native ? inits[1] : containers[0]) as JsonObject;
  expect(proxy.name).toBe("lanecar-proxy");
  // Prometheus's stock kubernetes-pods job finds the sidecar's metrics; the pod's own annotations win.
  const before_ = (before.metadata?.annotations ?? {}) as Obj;
  expect(after.metadata?.annotations).toMatchObject({
    "prometheus.io/scrape": before_["prometheus.io/scrape"] ?? "true",
    "prometheus.io/port": before_["prometheus.io/port"] ?? "15000",
    "prometheus.io/path": before_["prometheus.io/path"] ?? "/metrics",
  });
  expect(proxy.restartPolicy).toBe(native ? "Always" : undefined);
  expect((proxy.ports as { containerPort: number }[]).map((p) => p.containerPort)).toEqual([
    15006, 15001, 15000,
  ]);
  expect(proxy.readinessProbe).toMatchObject({ httpGet: { path: "/ready", port: 15000 } });
  // The admin API must answer kubelet on the pod IP, not only on loopback.
  const args = proxy.args as string[];
  expect(args[args.indexOf("--admin") + 1]).toBe("0.0.0.0:15000");
  expect(args[args.indexOf("--pod-labels-file") + 1]).toBe("/etc/lanecar/podinfo/labels");
  expect(args.slice(1, 3)).toEqual(source);
  expect(proxy.securityContext).toMatchObject({ runAsUser: 1337, runAsNonRoot: true });
  expect((proxy.resources as Obj).requests).toBeDefined();
  expect(proxy.env).toEqual(
    expect.arrayContaining([
      {
        name: "LANECAR_NAMESPACE",
        valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } },
      },
    ]),
  );
  expect(spec.volumes).toEqual(
    expect.arrayContaining([
      {
        name: "lanecar-podinfo",
        downwardAPI: {
          items: [{ path: "labels", fieldRef: { apiVersion: "v1", fieldPath: "metadata.labels" } }],
        },
      },
    ]),
  );
  // The app's containers, init containers, volumes and the rest of the spec are as they were.
  const apps = containers.filter((c) => c.name !== "lanecar-proxy");
  expectProbesMoved(before.spec.containers as JsonObject[], apps, proxy, identity);
  expect(inits.filter((c) => !String(c.name).startsWith("lanecar-"))).toEqual(
    before.spec.initContainers ?? [],
  );
  expect(
    (spec.volumes as Obj[]).filter((v) => v.name !== "lanecar-podinfo" && v.name !== "lanecar-identity"),
  ).toEqual(before.spec.volumes ?? []);
  const rest = (s: Obj) => {
    const { containers: _c, initContainers: _i, volumes: _v, ...others } = s;
    return others;
  };
  expect(rest(spec)).toEqual(rest(before.spec));
  expectIdentity(before, after, proxy, identity);
}

describe("lanecar inject", () => {
  const files = yamlFiles(BOOKINFO_KUBE);

  it("reads Istio's Bookinfo manifests from ../shared", () => {
    expect(files.map((f) => f.slice(BOOKINFO_KUBE.length + 1))).toContain("bookinfo.yaml");
  });

  for (const file of files) {
    const short = file.slice(BOOKINFO_KUBE.length + 1);
    it(`${short}: every workload injected, the output valid against the Kubernetes API, the rest unchanged`, async () => {
      const input = docs(readFileSync(file, "utf8"));
      const r = await inject(["-f", file]);
      expect(r.code, r.err.join("\n")).toBe(0);
      const output = docs(r.out);
      expect(output).toHaveLength(input.length);
      let injected = 0;
      for (let i = 0; i < input.length; i++) {
        const before = input[i]!;
        const after = output[i]!;
        expect(await isBuiltIn(after), `${String(after.kind)} is a Kubernetes kind`).toBe(true);
        await validateBuiltIn(after);
        if (!WORKLOADS.has(String(before.kind))) {
          expect(after).toEqual(before);
          continue;
        }
        injected++;
        expectInjected(template(before), template(after));
        const { spec: _s, ...outerAfter } = after;
        const { spec: _b, ...outerBefore } = before;
        expect(outerAfter).toEqual(outerBefore);
      }
      expect(injected).toBe(input.filter((o) => WORKLOADS.has(String(o.kind))).length);
      if (short === "bookinfo.yaml") expect(injected).toBe(6);
      // Idempotent: injecting the output again gives the same text.
      const again = await inject(["-f", fileWith(`again-${short}`, `${r.out}\n`)]);
      expect(again.out).toBe(r.out);
    });
  }

  it("injects every workload kind, in a kind: List too; leaves other kinds byte for byte", async () => {
    const pod = {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "web", image: "nginx" }] },
    };
    const text = [
      "# a comment that must survive\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}   # inline\ndata: {a: '1'}\n",
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "p", labels: { app: "web" } },
        spec: pod.spec,
      }),
      ...["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"].map((kind) =>
        JSON.stringify({
          apiVersion: "apps/v1",
          kind,
          metadata: { name: kind.toLowerCase() },
          spec: {
            selector: { matchLabels: { app: "web" } },
            template: pod,
            ...(kind === "StatefulSet" ? { serviceName: "web" } : {}),
          },
        }),
      ),
      JSON.stringify({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "j" },
        spec: { template: { ...pod, spec: { ...pod.spec, restartPolicy: "Never" } } },
      }),
      JSON.stringify({
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: "cj" },
        spec: {
          schedule: "* * * * *",
          jobTemplate: { spec: { template: { ...pod, spec: { ...pod.spec, restartPolicy: "OnFailure" } } } },
        },
      }),
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "in-list" },
            spec: { selector: { matchLabels: { app: "web" } }, template: pod },
          },
          { apiVersion: "v1", kind: "Service", metadata: { name: "web" }, spec: { ports: [{ port: 80 }] } },
        ],
      }),
    ].join("\n---\n");
    const r = await inject(["-f", fileWith("kinds.yaml", text)]);
    expect(r.code, r.err.join("\n")).toBe(0);
    expect(
      r.out.startsWith(
        "# a comment that must survive\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}   # inline\n",
      ),
    ).toBe(true);
    const out = docs(r.out);
    const input = docs(text);
    for (let i = 1; i < out.length; i++) {
      const o = out[i]!;
      if (o.kind === "List") {
        const items = o.items as Obj[];
        const inItems = input[i]!.items as Obj[];
        expectInjected(template(inItems[0]!), template(items[0]!));
        expect(items[1]).toEqual(inItems[1]);
        for (const it of items) await validateBuiltIn(it);
      } else {
        await validateBuiltIn(o);
        expectInjected(template(input[i]!), template(o));
      }
    }
    expect(out.map((o) => o.kind)).toEqual([
      "ConfigMap",
      "Pod",
      "Deployment",
      "StatefulSet",
      "DaemonSet",
      "ReplicaSet",
      "Job",
      "CronJob",
      "List",
    ]);
  });

  it("--classic-sidecar, --image and --config-source PATH", async () => {
    const file = join(BOOKINFO_KUBE, "bookinfo.yaml");
    const r = await inject([
      "-f",
      file,
      "--classic-sidecar",
      "--image",
      "registry.example/lanecar:9",
      "--config-source",
      "/etc/lanecar/config",
    ]);
    expect(r.code).toBe(0);
    const input = docs(readFileSync(file, "utf8"));
    const out = docs(r.out);
    for (let i = 0; i < out.length; i++) {
      await validateBuiltIn(out[i]!);
      if (out[i]!.kind !== "Deployment") continue;
      const t = template(out[i]!);
      expectInjected(template(input[i]!), t, false, ["--config", "/etc/lanecar/config"]);
      expect(names(t.spec.initContainers)).toEqual(["lanecar-init"]);
      const proxy = (t.spec.containers as JsonObject[])[0]!;
      expect(proxy.image).toBe("registry.example/lanecar:9");
      expect(proxy.args).toEqual(expect.arrayContaining(["--config", "/etc/lanecar/config"]));
      expect(proxy.args).not.toContain("--discovery");
      expect(proxy.startupProbe).toBeUndefined();
      // kubectl logs/exec still default to the app container.
      expect(t.metadata?.annotations).toMatchObject({
        "kubectl.kubernetes.io/default-container": (template(input[i]!).spec.containers as JsonObject[])[0]!
          .name,
      });
    }
  });

  it("--identity none (no cert-manager) and --trust-domain; a pod's own tlsMode label is kept", async () => {
    const file = join(BOOKINFO_KUBE, "bookinfo.yaml");
    const input = docs(readFileSync(file, "utf8"));
    const none = await inject(["-f", file, "--identity", "none"]);
    expect(none.code, none.err.join("\n")).toBe(0);
    const plain = docs(none.out);
    const td = await inject(["-f", file, "--trust-domain", "prod.example"]);
    expect(td.code).toBe(0);
    const domain = docs(td.out);
    for (let i = 0; i < input.length; i++) {
      if (input[i]!.kind !== "Deployment") continue;
      expectInjected(template(input[i]!), template(plain[i]!), true, undefined, false);
      expectInjected(template(input[i]!), template(domain[i]!));
      const proxy = (template(domain[i]!).spec.initContainers as JsonObject[])[1]!;
      const args = proxy.args as string[];
      expect(args[args.indexOf("--trust-domain") + 1]).toBe("prod.example");
    }
    // Istio's injector keeps a tlsMode the pod sets (callers then send it plaintext).
    const disabled = await inject([
      "-f",
      fileWith(
        "tls-disabled.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: legacy\n  labels: {app: legacy, security.istio.io/tlsMode: disabled}\nspec:\n  containers: [{name: a, image: a}]\n",
      ),
    ]);
    expect((docs(disabled.out)[0]!.metadata as Obj).labels).toEqual({
      app: "legacy",
      "security.istio.io/tlsMode": "disabled",
    });
    const bad = await inject(["-f", file, "--identity", "spire"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toEqual(['lanecar inject: --identity "spire" is not one of csi-driver-spiffe, none']);
    const badDomain = await inject(["-f", file, "--trust-domain", "Bad Domain"]);
    expect(badDomain.err).toEqual([
      'lanecar inject: --trust-domain "Bad Domain" is not a valid trust domain',
    ]);
  });

  it('leaves pods annotated lanecar.io/inject: "false", hostNetwork pods and pods without a service name', async () => {
    const text = [
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: opted-out\n  labels: {app: a}\n  annotations: {lanecar.io/inject: "false"}\nspec:\n  containers: [{name: a, image: a}]\n',
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: host\n  labels: {app: a}\nspec:\n  hostNetwork: true\n  containers: [{name: a, image: a}]\n",
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: anonymous\nspec:\n  containers: [{name: a, image: a}]\n",
    ].join("---\n");
    const r = await inject(["-f", fileWith("skip.yaml", text)]);
    expect(r.code).toBe(0);
    expect(docs(r.out)).toEqual(docs(text));
    expect(r.err).toEqual([
      'lanecar inject: not injected: Pod/opted-out: annotation lanecar.io/inject: "false"',
      expect.stringMatching(/^lanecar inject: not injected: Pod\/host: hostNetwork/),
      expect.stringMatching(/^lanecar inject: not injected: Pod\/anonymous: no service name/),
    ]);
  });

  it("per-pod capture annotations reach lanecar-init; a malformed one is reported, not injected", async () => {
    const pod = (annotations: string) =>
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {app: a}\n  annotations: {${annotations}}\nspec:\n  containers: [{name: a, image: a, ports: [{containerPort: 8000}]}]\n`;
    const ok = await inject([
      "-f",
      fileWith(
        "annotated.yaml",
        pod(
          'lanecar.io/include-inbound-ports: "8000, 8001", lanecar.io/exclude-outbound-cidrs: "10.0.0.0/8,fd00::/8", lanecar.io/exclude-outbound-ports: "5432", lanecar.io/include-outbound-cidrs: "*"',
        ),
      ),
    ]);
    expect(ok.code).toBe(0);
    const init = (template(docs(ok.out)[0]!).spec.initContainers as JsonObject[])[0]!;
    expect(init.args).toEqual([
      "iptables",
      "--include-inbound-ports",
      "8000,8001",
      "--include-outbound-cidrs",
      "*",
      "--exclude-outbound-cidrs",
      "10.0.0.0/8,fd00::/8",
      "--exclude-outbound-ports",
      "5432",
      "--inbound-port",
      "15006",
      "--outbound-port",
      "15001",
      "--proxy-uid",
      "1337",
      "--admin-port",
      "15000",
    ]);
    const port = await inject(["-f", fileWith("app-port.yaml", pod('lanecar.io/app-port: "7000"'))]);
    const proxy = (template(docs(port.out)[0]!).spec.initContainers as JsonObject[])[1]!;
    expect(proxy.args).toContain("http://127.0.0.1:7000");
    const badPort = await inject(["-f", fileWith("bad-port.yaml", pod('lanecar.io/app-port: "99999"'))]);
    expect(badPort.err).toEqual([
      'lanecar inject: not injected: Pod/p: annotation lanecar.io/app-port: "99999" is not a port',
    ]);
    const bad = await inject([
      "-f",
      fileWith("bad-annotation.yaml", pod('lanecar.io/exclude-outbound-cidrs: "10.0.0.0/40"')),
    ]);
    expect(bad.code).toBe(0);
    expect(docs(bad.out)).toEqual(docs(pod('lanecar.io/exclude-outbound-cidrs: "10.0.0.0/40"')));
    expect(bad.err).toEqual([
      'lanecar inject: not injected: Pod/p: annotation lanecar.io/exclude-outbound-cidrs: "10.0.0.0/40" is not a CIDR',
    ]);
  });

  it("bad input: one clear line, exit 1 or 2, no stack trace", async () => {
    const bad = await inject(["-f", fileWith("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n")]);
    expect(bad.code).toBe(1);
    expect(bad.err).toHaveLength(1);
    expect(bad.err[0]).toMatch(/^lanecar inject: .*bad\.yaml:\d+:\d+: /);
    const missing = await inject(["-f", join(tmp, "nope.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.err).toEqual([`lanecar inject: cannot read ${join(tmp, "nope.yaml")}: ENOENT`]);
    expect((await inject([])).code).toBe(2);
  });

  it("-f - reads stdin (the built binary, as kubectl users pipe it)", () => {
    const input = readFileSync(join(BOOKINFO_KUBE, "bookinfo-ratings-v2.yaml"), "utf8");
    const r = spawnSync(process.execPath, [LANECAR_BIN, "inject", "-f", "-"], { input, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const out = docs(r.stdout);
    expect(names(template(out.find((o) => o.kind === "Deployment")!).spec.initContainers)).toEqual([
      "lanecar-init",
      "lanecar-proxy",
    ]);
  });
});

/** Generated pods: names, ports, probes, annotations, init containers. */
const podArb = fc
  .record({
    labels: fc.dictionary(
      fc.constantFrom("app", "version", "tier", "ASM_TRAFFIC_TAG", "security.istio.io/tlsMode"),
      fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/),
      { minKeys: 0 },
    ),
    annotation: fc.constantFrom(undefined, "true", "false", "yes"),
    containers: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/),
        image: fc.constantFrom("nginx", "busybox:1.36"),
        ports: fc.array(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 2 }),
        readinessProbe: fc.option(
          fc.record({
            httpGet: fc.record({ path: fc.constant("/h"), port: fc.integer({ min: 1, max: 65535 }) }),
          }),
          { nil: undefined },
        ),
      }),
      { minLength: 1, maxLength: 3, selector: (c) => c.name },
    ),
    inits: fc.array(fc.record({ name: fc.constantFrom("migrate", "warm"), image: fc.constant("busybox") }), {
      maxLength: 1,
    }),
  })
  .map(({ labels, annotation, containers, inits }) => {
    const metadata: JsonObject = { labels };
    if (annotation !== undefined) metadata.annotations = { "lanecar.io/inject": annotation };
    const spec: JsonObject = { containers: JSON.parse(JSON.stringify(containers)) };
    if (inits.length > 0) spec.initContainers = inits;
    return { metadata, spec } as PodLike;
  });

describe("the pod mutation (properties)", () => {
  it("is idempotent, honours the opt-out, keeps the app containers, never modifies its input, and is schema-valid", async () => {
    const { Pod } = (await import("kubernetes-models/v1/Pod")) as {
      Pod: new (o: Obj) => { validate(): void };
    };
    fc.assert(
      fc.property(podArb, fc.boolean(), (pod, classicSidecar) => {
        const copy = structuredClone(pod);
        const opts = { ...INJECT_DEFAULTS, image: "lanecar:t", classicSidecar };
        const first = injectPod(pod, opts);
        expect(pod).toEqual(copy);
        const hasService = typeof (pod.metadata!.labels as Obj).app === "string";
        if ((pod.metadata!.annotations as Obj | undefined)?.["lanecar.io/inject"] === "false") {
          expect(first).toEqual({ injected: false, reason: "opted-out" });
          return;
        }
        if (!hasService) {
          expect(first).toEqual({ injected: false, reason: "no-service" });
          return;
        }
        if (!first.injected) throw new Error(`not injected: ${first.reason}`);
        expectInjected(pod as { spec: Obj }, first.pod as { metadata: Obj; spec: Obj }, !classicSidecar);
        expect(injectPod(first.pod, opts)).toEqual({ injected: false, reason: "already-injected" });
        new Pod({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, ...(first.pod as Obj) }).validate();
      }),
      { numRuns: 200 },
    );
  });
});

describe("the probe rewrite (kubelet's plaintext probes under STRICT)", () => {
  it("moves HTTP probes (numeric or named port, headers) to the admin port; HTTPS, host, exec and tcpSocket stay", () => {
    const out = injectPod(
      {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [
            {
              name: "web",
              image: "web",
              ports: [{ name: "http", containerPort: 8080 }],
              readinessProbe: {
                httpGet: { path: "/ready", port: "http", httpHeaders: [{ name: "X-Probe", value: "1" }] },
                periodSeconds: 3,
                timeoutSeconds: 2,
              },
              livenessProbe: { httpGet: { path: "/live", port: 8443, scheme: "HTTPS" } },
              startupProbe: { tcpSocket: { port: 8080 } },
            },
            {
              name: "side",
              image: "side",
              readinessProbe: { httpGet: { path: "/x", port: 9000, host: "10.0.0.1" } },
              livenessProbe: { exec: { command: ["true"] } },
            },
          ],
        },
      },
      INJECT_DEFAULTS,
    );
    if (!out.injected) throw new Error("not injected");
    const [web, side] = out.pod.spec!.containers as JsonObject[];
    expect(web!.readinessProbe).toEqual({
      httpGet: { path: "/app-health/web/readyz", port: 15000, scheme: "HTTP" },
      periodSeconds: 3,
      timeoutSeconds: 2,
    });
    expect(web!.livenessProbe).toEqual({ httpGet: { path: "/live", port: 8443, scheme: "HTTPS" } });
    expect(web!.startupProbe).toEqual({ tcpSocket: { port: 8080 } });
    expect(side!.readinessProbe).toEqual({ httpGet: { path: "/x", port: 9000, host: "10.0.0.1" } });
    const proxy = (out.pod.spec!.initContainers as JsonObject[])[1]!;
    const env = (proxy.env as { name: string; value?: string }[]).find(
      (e) => e.name === "LANECAR_APP_PROBES",
    )!;
    expect(JSON.parse(env.value!)).toEqual({
      "/app-health/web/readyz": {
        port: 8080,
        path: "/ready",
        headers: [{ name: "X-Probe", value: "1" }],
        timeoutSeconds: 2,
      },
    });
    // No identity (no STRICT possible): probes are left as they are.
    const plain = injectPod(
      {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [{ name: "web", image: "web", readinessProbe: { httpGet: { path: "/r", port: 80 } } }],
        },
      },
      { ...INJECT_DEFAULTS, identity: "none" },
    );
    if (!plain.injected) throw new Error("not injected");
    expect((plain.pod.spec!.containers as JsonObject[])[0]!.readinessProbe).toEqual({
      httpGet: { path: "/r", port: 80 },
    });
  });
});
