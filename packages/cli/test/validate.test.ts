import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, run } from "./run.js";

const BROKEN = fixture("broken");
const EXPECTED = readFileSync(join(BROKEN, "expected.txt"), "utf8").split("\n").filter(Boolean);

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "lanecar-cli-validate-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe("lanecar validate: valid config", () => {
  it("exits 0 with a summary line on a folder of Kubernetes and Istio manifests", async () => {
    const dir = fixture("valid-mixed");
    const r = await run(["validate", dir]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual(["valid: 8 resources in 4 files"]);
    // Skipped Kubernetes kinds are warnings, on stderr, so stdout stays the verdict.
    expect(r.err).toEqual([
      `${dir}/k8s/config.yml:2:1 ConfigMap/default/lanecar: kind: warning: kind ConfigMap is not used by Lanecar; skipped`,
      `${dir}/k8s/reviews.yaml:3:1 Service/default/reviews: kind: warning: kind Service is not used by Lanecar; skipped`,
      `${dir}/k8s/reviews.yaml:17:1 ServiceAccount/default/bookinfo-reviews: kind: warning: kind ServiceAccount is not used by Lanecar; skipped`,
      `${dir}/k8s/reviews.yaml:22:1 Deployment/default/reviews-v1: kind: warning: kind Deployment is not used by Lanecar; skipped`,
      `${dir}/k8s/reviews.yaml:49:1 Deployment/default/reviews-v2: kind: warning: kind Deployment is not used by Lanecar; skipped`,
    ]);
  });

  it("exits 0 on Gateway API kinds and a kubectl List: other API groups are warnings, List items are read", async () => {
    const file = join(tmp, "kubectl-get.yaml");
    writeFileSync(
      file,
      `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: httpbin}
  spec: {host: httpbin, trafficPolicy: {outlierDetection: {consecutiveErrors: 1}}}
metadata: {resourceVersion: ""}
`,
    );
    const r = await run(["validate", file]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual(["valid: 1 resources in 1 files"]);
    expect(r.err).toEqual([
      `${file}:2:1 Gateway/default/bookinfo-gateway: kind: warning: gateway.networking.k8s.io/v1 Gateway is not used by Lanecar; skipped`,
      `${file}:12:60 DestinationRule/default/httpbin: spec.trafficPolicy.outlierDetection.consecutiveErrors: warning: deprecated (Istio); read as consecutive5xxErrors`,
    ]);
  });

  it("exits 0 on the ASM and Bookinfo fixtures, counting resources and files of every path", async () => {
    const asm = await run(["validate", fixture("asm")]);
    expect(asm).toEqual({ code: 0, out: ["valid: 13 resources in 2 files"], err: [] });
    const bookinfo = await run([
      "validate",
      fixture("bookinfo/services.yaml"),
      fixture("bookinfo/destination-rules.yaml"),
      fixture("bookinfo/tasks/jason-v2.yaml"),
    ]);
    expect(bookinfo).toEqual({ code: 0, out: ["valid: 15 resources in 3 files"], err: [] });
  });
});

describe("lanecar validate: security.istio.io kinds beside routing", () => {
  const MIXED = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]
    to: [{operation: {methods: ["GET"]}}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: deny-dev}
spec:
  action: DENY
  rules: [{from: [{source: {namespaces: ["dev"]}}]}]
`;

  it("exits 0 and counts the policies as resources", async () => {
    const file = join(tmp, "mixed-security.yaml");
    writeFileSync(file, MIXED);
    const r = await run([
      "validate",
      fixture("bookinfo/services.yaml"),
      fixture("bookinfo/destination-rules.yaml"),
      file,
    ]);
    expect(r).toEqual({ code: 0, out: ["valid: 18 resources in 3 files"], err: [] });
  });

  it("exits 1 with one line per error of a policy, at its line", async () => {
    const file = join(tmp, "bad-security.yaml");
    writeFileSync(
      file,
      MIXED.replace('methods: ["GET"]', 'methods: ["GET"], ports: ["http"]').replace(
        "mode: STRICT",
        "mode: ON",
      ),
    );
    const r = await run([
      "validate",
      fixture("bookinfo/services.yaml"),
      fixture("bookinfo/destination-rules.yaml"),
      file,
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([
      `${file}:14:15 PeerAuthentication/default/default: spec.mtls.mode: "ON" is not one of UNSET, DISABLE, PERMISSIVE, STRICT`,
      `${file}:24:49 AuthorizationPolicy/default/reviews-viewer: spec.rules[0].to[0].operation.ports[0]: "http" is not a port number`,
    ]);
  });
});

describe("lanecar validate: invalid config", () => {
  it("exits 1 and prints exactly one line per error, as fixtures/broken/expected.txt says", async () => {
    const r = await run(["validate", BROKEN]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual(EXPECTED.map((l) => `${BROKEN}/${l}`));
    expect(r.err).toEqual([
      `${BROKEN}/lanes.yaml:13:9 VirtualService/default/details: spec.http[0].route[0].destination.subset: warning: no TrafficLabel defines label "trafficLabel"; "$trafficLabel" never resolves`,
    ]);
  });

  it("reports errors of several paths together, sorted by file", async () => {
    const bad = join(tmp, "a-bad.yaml");
    writeFileSync(
      bad,
      "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec: {host: 7}\n",
    );
    const r = await run(["validate", join(BROKEN, "services.yaml"), bad]);
    expect(r.code).toBe(1);
    // Sorted by file path: where the checkout and the temp folder sit decides which comes first.
    const badLines = [
      `${bad}:4:8 DestinationRule/default/reviews: spec.host: must be a string, got a number`,
    ];
    const brokenLines = EXPECTED.filter((l) => l.startsWith("services.yaml:")).map((l) => `${BROKEN}/${l}`);
    expect(r.out).toEqual(bad < BROKEN ? [...badLines, ...brokenLines] : [...brokenLines, ...badLines]);
  });

  it("exits 1 with a clear line, and no stack trace, for a missing path or an empty folder", async () => {
    const missing = join(tmp, "nope");
    const empty = mkdtempSync(join(tmp, "empty-"));
    const r = await run(["validate", missing, empty]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([
      `${empty}:1:1 -: directory holds no *.yaml or *.yml file`,
      `${missing}:1:1 -: cannot read: no such file or directory (ENOENT)`,
    ]);
    expect(r.err).toEqual([]);
  });
});

describe("lanecar validate: flags and environment", () => {
  const file = () => {
    const f = join(tmp, "ns.yaml");
    writeFileSync(
      f,
      "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec: {host: [reviews]}\n",
    );
    return f;
  };

  it("uses --namespace, then LANECAR_NAMESPACE, then default for resources without one", async () => {
    const line = (ns: string) =>
      `${file()}:4:8 DestinationRule/${ns}/reviews: spec.host: must be a string, got a list`;
    expect((await run(["validate", file()])).out).toEqual([line("default")]);
    expect((await run(["validate", file()], { LANECAR_NAMESPACE: "shop" })).out).toEqual([line("shop")]);
    expect((await run(["validate", "-n", "bookinfo", file()], { LANECAR_NAMESPACE: "shop" })).out).toEqual([
      line("bookinfo"),
    ]);
    expect((await run(["validate", `--namespace=cart`, file()])).out).toEqual([line("cart")]);
  });

  it("exits 2 with the usage on stderr when no path is given", async () => {
    const r = await run(["validate"]);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err[0]).toBe("usage: lanecar validate PATH...");
    expect(r.err.some((l) => l.includes("--namespace") && l.includes("[LANECAR_NAMESPACE]"))).toBe(true);
  });

  it("exits 2 on an unknown flag or a flag missing its value", async () => {
    expect(await run(["validate", "--strict", BROKEN])).toEqual({
      code: 2,
      out: [],
      err: ["lanecar validate: unknown flag --strict"],
    });
    expect(await run(["validate", BROKEN, "--namespace"])).toEqual({
      code: 2,
      out: [],
      err: ["lanecar validate: --namespace needs a value"],
    });
  });

  it("prints its usage on stdout and exits 0 with --help", async () => {
    const r = await run(["validate", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe("usage: lanecar validate PATH...");
  });
});

describe("lanecar", () => {
  it("exits 2 with the command list when no command or an unknown one is given", async () => {
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.err[0]).toBe("usage: lanecar <command> [flags]");
    expect(none.err.join("\n")).toMatch(/validate\s+check config files/);
    const unknown = await run(["vaildate", BROKEN]);
    expect(unknown.code).toBe(2);
    expect(unknown.err[0]).toBe('lanecar: unknown command "vaildate"');
  });

  it("prints the command list on stdout with --help", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.out.filter((l) => /^ {2}\w/.test(l)).map((l) => l.trim().split(/\s+/)[0])).toEqual(
      expect.arrayContaining(["sidecar", "gateway", "validate", "explain"]),
    );
  });
});
