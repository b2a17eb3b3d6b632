/**
 * `lanecar injector`, the built binary, over real TLS with certificates made by the documented
 * step (deploy/kubernetes/webhook-cert.sh, openssl), verified the way kube-apiserver verifies a
 * webhook (the caBundle CA, the Service's DNS name). Requests are AdmissionReviews shaped as
 * kube-apiserver sends them for a pod a ReplicaSet creates (generateName and no name, namespace
 * only in the request, the ServiceAccount plugin's token volume already added, dryRun); the
 * JSON Patch answered, applied with fast-json-patch, must give exactly `lanecar inject`'s pod.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fastJsonPatch from "fast-json-patch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admit } from "../../packages/cli/src/kube/admission.js";
import { INJECT_DEFAULTS, injectPod, type PodLike } from "../../packages/cli/src/kube/inject-pod.js";
import { jsonPatch } from "../../packages/cli/src/kube/json-patch.js";
import { main } from "../../packages/cli/src/main.js";
import { LANECAR_BIN } from "../support/lanecar.js";
import { docs, type Obj, REPO, validateBuiltIn } from "./schemas.js";

const SERVER_NAME = "lanecar-injector.lanecar-system.svc";
const tmp = mkdtempSync(join(tmpdir(), "lanecar-injector-"));
const live = join(tmp, "live");

function makeCerts(dir: string): { ca: Buffer } {
  execFileSync("sh", [join(REPO, "deploy/kubernetes/webhook-cert.sh"), "--out", dir], { stdio: "pipe" });
  return { ca: readFileSync(join(dir, "ca.crt")) };
}

let child: ChildProcess;
let port = 0;
let stderr = "";
let ca1: Buffer;
let ca2: Buffer;

interface Reply {
  status: number;
  body: string;
}

function call(method: string, path: string, body: string | undefined, ca: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        ca,
        servername: SERVER_NAME,
        // A new connection and handshake each time (no keep-alive, no session reuse).
        agent: false,
        headers:
          body === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: 5000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end(body);
  });
}

/** The pod a ReplicaSet controller creates from Istio's reviews-v1 template, as the webhook sees it. */
function replicaSetPod(extraAnnotations: Obj = {}): Obj {
  const deployment = docs(
    readFileSync(join(REPO, "../shared/conformance/istio/bookinfo-kube/bookinfo.yaml"), "utf8"),
  ).find((o) => o.kind === "Deployment" && (o.metadata as Obj).name === "reviews-v1")!;
  const template = structuredClone((deployment.spec as { template: { metadata: Obj; spec: Obj } }).template);
  const tokenMount = {
    name: "kube-api-access-x7k2p",
    readOnly: true,
    mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
  };
  const spec = template.spec as { containers: Obj[]; volumes: Obj[] };
  for (const c of spec.containers) {
    c.terminationMessagePath = "/dev/termination-log";
    c.terminationMessagePolicy = "File";
    c.resources = {};
    c.volumeMounts = [...((c.volumeMounts as Obj[]) ?? []), tokenMount];
  }
  spec.volumes.push({
    name: "kube-api-access-x7k2p",
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        {
          downwardAPI: {
            items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }],
          },
        },
      ],
    },
  });
  return {
    kind: "Pod",
    apiVersion: "v1",
    metadata: {
      generateName: "reviews-v1-5b5d6494f4-",
      creationTimestamp: null,
      labels: { ...(template.metadata.labels as Obj), "pod-template-hash": "5b5d6494f4" },
      ...(Object.keys(extraAnnotations).length ? { annotations: extraAnnotations } : {}),
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "reviews-v1-5b5d6494f4",
          uid: "4f0b2a7e-3c1d-4e5f-9a8b-7c6d5e4f3a2b",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: "kube-controller-manager",
          operation: "Update",
          apiVersion: "v1",
          time: "2026-12-06T04:00:00Z",
          fieldsType: "FieldsV1",
          fieldsV1: { "f:metadata": {} },
        },
      ],
    },
    spec: {
      ...spec,
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccount: "bookinfo-reviews",
      securityContext: {},
      schedulerName: "default-scheduler",
      tolerations: [
        {
          key: "node.kubernetes.io/not-ready",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
        {
          key: "node.kubernetes.io/unreachable",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: "PreemptLowerPriority",
    },
    status: {},
  };
}

function admissionReview(object: Obj, o: { uid?: string; dryRun?: boolean; kind?: Obj } = {}): Obj {
  const kind = o.kind ?? { group: "", version: "v1", kind: "Pod" };
  return {
    kind: "AdmissionReview",
    apiVersion: "admission.k8s.io/v1",
    request: {
      uid: o.uid ?? "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind,
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: kind,
      requestResource: { group: "", version: "v1", resource: "pods" },
      namespace: "bookinfo",
      operation: "CREATE",
      userInfo: {
        username: "system:serviceaccount:kube-system:replicaset-controller",
        uid: "9d5e2a1c-0000-4000-8000-000000000001",
        groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
      },
      object,
      oldObject: null,
      dryRun: o.dryRun ?? false,
      options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  };
}

async function review(body: Obj, ca = ca1): Promise<{ status: number; response: Obj }> {
  const r = await call("POST", "/inject", JSON.stringify(body), ca);
  expect(r.status, r.body).toBe(200);
  const parsed = JSON.parse(r.body) as Obj;
  expect(parsed).toMatchObject({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" });
  return { status: r.status, response: parsed.response as Obj };
}

/** `lanecar inject` of the same pod, as a bare Pod document. */
async function injectedByCommand(pod: Obj): Promise<Obj> {
  const file = join(tmp, `pod-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(pod));
  const out: string[] = [];
  const code = await main(["inject", "-f", file, "--image", "lanecar:test"], {
    out: (l) => out.push(l),
    err: () => {},
    env: {},
  });
  expect(code).toBe(0);
  return docs(out.join("\n"))[0]!;
}

beforeAll(async () => {
  ca1 = makeCerts(join(tmp, "pair1")).ca;
  ca2 = makeCerts(join(tmp, "pair2")).ca;
  execFileSync("mkdir", ["-p", live]);
  for (const f of ["tls.crt", "tls.key"]) copyFileSync(join(tmp, "pair1", f), join(live, f));
  child = spawn(
    process.execPath,
    [
      LANECAR_BIN,
      "injector",
      "--listen",
      "127.0.0.1:0",
      "--tls-cert",
      join(live, "tls.crt"),
      "--tls-key",
      join(live, "tls.key"),
      "--image",
      "lanecar:test",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stderr!.on("data", (c) => (stderr += c));
  const deadline = Date.now() + 15_000;
  while (!/ready: https:\/\/127\.0\.0\.1:(\d+)\/inject/.test(stderr)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`injector did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  port = Number(/ready: https:\/\/127\.0\.0\.1:(\d+)\/inject/.exec(stderr)![1]);
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe("lanecar injector", () => {
  it("serves /healthz over TLS verified with the caBundle CA and the Service name", async () => {
    expect(await call("GET", "/healthz", undefined, ca1)).toEqual({ status: 200, body: "ok\n" });
    // A client that trusts another CA refuses the injector, as kube-apiserver would.
    await expect(call("GET", "/healthz", undefined, ca2)).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  for (const dryRun of [false, true]) {
    it(`a ReplicaSet's pod (dryRun ${dryRun}): the JSON Patch gives exactly lanecar inject's pod`, async () => {
      const pod = replicaSetPod();
      const { response } = await review(admissionReview(pod, { dryRun, uid: `uid-${dryRun}` }));
      expect(response).toMatchObject({ uid: `uid-${dryRun}`, allowed: true, patchType: "JSONPatch" });
      const patch = JSON.parse(Buffer.from(String(response.patch), "base64").toString("utf8"));
      const patched = fastJsonPatch.applyPatch(structuredClone(pod), patch, true, false).newDocument as Obj;
      expect(patched).toEqual(await injectedByCommand(pod));
      // The result is a valid Pod, and the app container (with the token mount) is untouched.
      await validateBuiltIn({
        ...patched,
        metadata: { ...(patched.metadata as Obj), name: "reviews-v1-5b5d6494f4-abcde" },
      });
      const spec = patched.spec as { containers: Obj[]; initContainers: Obj[] };
      expect(spec.containers).toEqual((pod.spec as { containers: Obj[] }).containers);
      expect(spec.initContainers.map((c) => c.name)).toEqual(["lanecar-init", "lanecar-proxy"]);
      expect(spec.initContainers[1]!.image).toBe("lanecar:test");
      // Sent again (kube-apiserver's reinvocation), the injected pod gets no patch.
      const again = await review(admissionReview(patched));
      expect(again.response).toEqual({ uid: "705ab4f5-6393-11e8-b7cc-42010a800002", allowed: true });
    });
  }

  it('a pod annotated lanecar.io/inject: "false" is allowed unchanged', async () => {
    const { response } = await review(admissionReview(replicaSetPod({ "lanecar.io/inject": "false" })));
    expect(response).toEqual({ uid: "705ab4f5-6393-11e8-b7cc-42010a800002", allowed: true });
  });

  it("bad reviews: a 400 or allowed with a warning, never a crash", async () => {
    const notJson = await call("POST", "/inject", "{not json", ca1);
    expect(notJson.status).toBe(400);
    expect(notJson.body).toMatch(/not JSON/);
    const noUid = await call(
      "POST",
      "/inject",
      JSON.stringify({ kind: "AdmissionReview", request: {} }),
      ca1,
    );
    expect(noUid.status).toBe(400);
    const notReview = await call("POST", "/inject", JSON.stringify([1, 2]), ca1);
    expect(notReview.status).toBe(400);
    const deployment = await review(
      admissionReview({ kind: "Deployment" }, { kind: { group: "apps", version: "v1", kind: "Deployment" } }),
    );
    expect(deployment.response).toMatchObject({
      allowed: true,
      warnings: [expect.stringMatching(/only Pods/)],
    });
    const garbage = await review(admissionReview({ metadata: "x", spec: 7 } as unknown as Obj));
    expect(garbage.response).toMatchObject({ allowed: true, warnings: [expect.stringMatching(/not a Pod/)] });
    const noService = await review(
      admissionReview({ metadata: {}, spec: { containers: [{ name: "a", image: "a" }] } }),
    );
    expect(noService.response).toMatchObject({
      allowed: true,
      warnings: [expect.stringMatching(/no service name/)],
    });
    expect((await call("GET", "/inject", undefined, ca1)).status).toBe(405);
    expect((await call("GET", "/nope", undefined, ca1)).status).toBe(404);
    expect(child.exitCode).toBeNull();
    expect((await call("GET", "/healthz", undefined, ca1)).status).toBe(200);
  });

  it("re-reads a rotated certificate and key without a restart", async () => {
    for (const f of ["tls.crt", "tls.key"]) copyFileSync(join(tmp, "pair2", f), join(live, f));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await call("GET", "/healthz", undefined, ca2).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`the new certificate was not loaded: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await expect(call("GET", "/healthz", undefined, ca1)).rejects.toThrow();
    const { response } = await review(admissionReview(replicaSetPod()), ca2);
    expect(response.patchType).toBe("JSONPatch");
    expect(stderr).toMatch(/certificate reloaded/);
  });

  it("the patch escapes keys with / and ~ (RFC 6901), in classic mode too", () => {
    const pod = replicaSetPod({ "example.com/a~b": "1", "lanecar.io/note": "x" });
    const opts = { ...INJECT_DEFAULTS, image: "lanecar:x", classicSidecar: true };
    const answer = admit(JSON.stringify(admissionReview(pod)), opts);
    const response = (answer.body as Obj).response as Obj;
    const patch = JSON.parse(Buffer.from(String(response.patch), "base64").toString("utf8")) as {
      path: string;
    }[];
    expect(patch.map((p) => p.path)).toContain(
      "/metadata/annotations/kubectl.kubernetes.io~1default-container",
    );
    // Istio's mTLS label, added to the pod's labels (auto mTLS of the callers reads it).
    expect(patch).toContainEqual({
      op: "add",
      path: "/metadata/labels/security.istio.io~1tlsMode",
      value: "istio",
    });
    const patched = fastJsonPatch.applyPatch(structuredClone(pod), patch as never, true, false)
      .newDocument as Obj;
    const expected = injectPod(pod as PodLike, opts);
    if (!expected.injected) throw new Error("not injected");
    expect(patched).toEqual({ ...pod, ...expected.pod });
    // Generic diffs: removals, replaced arrays, escaped keys; checked against the library.
    const from = { a: { "x/y": 1, "m~n": [1, 2, 3] }, b: [1, { c: 2 }], gone: true };
    const to = { a: { "x/y": 2, "m~n": [3] }, b: [1, { c: 3, d: 4 }, 5], added: null };
    expect(
      fastJsonPatch.applyPatch(structuredClone(from), jsonPatch(from, to) as never, true, false).newDocument,
    ).toEqual(to);
  });
});
