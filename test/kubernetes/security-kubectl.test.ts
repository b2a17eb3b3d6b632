/**
 * The security kinds end to end through the real client: `kubectl apply` / `kubectl delete`
 * (client-side apply: GET, POST, merge PATCH, DELETE) against the API fake, and a real `lanecar
 * sidecar --discovery kubernetes` watching it. The walkthrough's own PeerAuthentication
 * (examples/bookinfo/kubernetes/security.yaml, STRICT), then a change to PERMISSIVE, then its
 * deletion, each reach the sidecar's config (`/config_dump`); an AuthorizationPolicy kubectl
 * applies is read, an invalid one is left out with its error. Needs kubectl and `pnpm build`.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiFake } from "../support/kube-api-fake.js";
import { service } from "../support/kube-objects.js";
import { LANECAR_BIN, type Running, waitReady } from "../support/lanecar.js";
import { freePorts } from "../support/ports.js";
import { REPO } from "./schemas.js";

const KUBECTL = process.env.KUBECTL ?? "kubectl";
const SECURITY_YAML = join(REPO, "examples/bookinfo/kubernetes/security.yaml");
const api = new KubeApiFake();
const dir = mkdtempSync(join(tmpdir(), "lanecar-kubectl-security-"));
const kubeconfig = join(dir, "kubeconfig");
let sidecar: Running | undefined;

/** kubectl without blocking this process's event loop (the fake answers from it). */
function kubectl(args: string[], input?: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    // A cache of its own: kubectl keeps discovery per host:port for hours, and ports are reused.
    const child = spawn(KUBECTL, ["--kubeconfig", kubeconfig, "--cache-dir", join(dir, "cache"), ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => {
      out += c.toString();
    });
    child.stderr.on("data", (c) => {
      err += c.toString();
    });
    child.stdin.end(input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

interface Dumped {
  kind: string;
  namespace: string;
  name: string;
  file: string;
  spec: { mtls?: { mode?: string }; action?: string };
}

async function dump(): Promise<{
  resources: Dumped[];
  discovery: { rejected: { resource: string; errors: string[] }[] };
}> {
  return (await fetch(`http://${sidecar!.admin}/config_dump`)).json() as never;
}

async function until<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: T = await read();
  while (!ok(last)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
    last = await read();
  }
  return last;
}

const peerAuth = async () => (await dump()).resources.find((r) => r.kind === "PeerAuthentication");

beforeAll(async () => {
  const r = spawnSync(KUBECTL, ["version", "--client"], { encoding: "utf8" });
  if (r.error || r.status !== 0)
    throw new Error(`kubectl is not installed (${KUBECTL}); these tests need kubectl 1.32`);
  await api.start();
  writeFileSync(kubeconfig, api.kubeconfig());
  api.apply(service("reviews", "bookinfo"));
  const [app, inbound, outbound, admin] = await freePorts(4);
  const child = spawn(
    process.execPath,
    [
      LANECAR_BIN,
      "sidecar",
      "--discovery",
      "kubernetes",
      "--kubeconfig",
      kubeconfig,
      "--service",
      "reviews",
      "--namespace",
      "bookinfo",
      "--app",
      `http://127.0.0.1:${app}`,
      "--inbound",
      `127.0.0.1:${inbound}`,
      "--outbound",
      `127.0.0.1:${outbound}`,
      "--admin",
      `127.0.0.1:${admin}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (c) => {
    err += c.toString();
  });
  // Discovery loads the Kubernetes client and lists every kind before the process is ready.
  await waitReady(`127.0.0.1:${admin}`, 60_000, child, () => err);
  sidecar = {
    child,
    admin: `127.0.0.1:${admin}`,
    stderr: () => err,
    stdout: () => "",
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
        child.kill("SIGTERM");
      }),
  };
}, 90_000);

afterAll(async () => {
  await sidecar?.stop();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("PeerAuthentication and AuthorizationPolicy through kubectl into a discovering sidecar", () => {
  it("the walkthrough's STRICT policy is created, changed to PERMISSIVE and deleted with kubectl", async () => {
    expect(await peerAuth()).toBeUndefined();
    const created = await kubectl(["apply", "--validate=false", "-n", "bookinfo", "-f", SECURITY_YAML]);
    expect(created.err).toBe("");
    expect(created.out.trim()).toBe("peerauthentication.security.istio.io/default created");
    const strict = await until(peerAuth, (p) => p !== undefined, "the created PeerAuthentication");
    expect(strict).toMatchObject({
      namespace: "bookinfo",
      name: "default",
      file: "kubernetes:fake",
      spec: { mtls: { mode: "STRICT" } },
    });
    // What kubectl stored is Istio's object as written (plus its last-applied annotation).
    const stored = api.get("security.istio.io/v1", "PeerAuthentication", "bookinfo", "default")!;
    expect(stored.spec).toEqual({ mtls: { mode: "STRICT" } });
    expect(Object.keys((stored.metadata.annotations ?? {}) as object)).toContain(
      "kubectl.kubernetes.io/last-applied-configuration",
    );

    const permissive = readFileSync(SECURITY_YAML, "utf8").replace("mode: STRICT", "mode: PERMISSIVE");
    const changed = await kubectl(["apply", "--validate=false", "-n", "bookinfo", "-f", "-"], permissive);
    expect(changed.out.trim()).toBe("peerauthentication.security.istio.io/default configured");
    await until(peerAuth, (p) => p?.spec.mtls?.mode === "PERMISSIVE", "the change to PERMISSIVE");
    expect(
      api.requests.some((q) => q.startsWith("PATCH /apis/security.istio.io/v1/namespaces/bookinfo/")),
    ).toBe(true);

    const deleted = await kubectl(["delete", "-n", "bookinfo", "-f", SECURITY_YAML]);
    expect(deleted.out.trim()).toBe('peerauthentication.security.istio.io "default" deleted');
    await until(peerAuth, (p) => p === undefined, "the deletion");
    const get = await kubectl(["get", "pa", "-n", "bookinfo"]);
    expect(get.err.trim()).toBe("No resources found in bookinfo namespace.");
  });

  it("an AuthorizationPolicy applied with kubectl is read; an invalid one is left out with its error", async () => {
    const policies = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: [cluster.local/ns/bookinfo/sa/bookinfo-productpage]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: broken, namespace: bookinfo}
spec:
  action: ALLOW
  rules:
  - from:
    - source: {}
`;
    const r = await kubectl(["apply", "--validate=false", "-f", "-"], policies);
    expect(r.code, r.err).toBe(0);
    const d = await until(
      dump,
      (x) => x.discovery.rejected.length > 0 && x.resources.some((p) => p.kind === "AuthorizationPolicy"),
      "the policies",
    );
    expect(d.resources.filter((p) => p.kind === "AuthorizationPolicy").map((p) => p.name)).toEqual([
      "reviews-viewer",
    ]);
    expect(d.discovery.rejected).toEqual([
      {
        resource: "AuthorizationPolicy/bookinfo/broken",
        cluster: "fake",
        errors: [expect.stringContaining("spec.rules[0].from[0].source: must not be empty")],
      },
    ]);
  });
});
