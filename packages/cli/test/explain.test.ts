import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOOKINFO_JASON, fixture, run } from "./run.js";

const REVIEWS = "reviews.default.svc.cluster.local";
const DETAILS = "details.default.svc.cluster.local";
const CONFIG = BOOKINFO_JASON.flatMap((c) => ["--config", c]);
const ASM = ["--config", fixture("asm")];

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "lanecar-cli-explain-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs explain with --json and parses its single output line. */
async function explainJson(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await run(["explain", ...argv, "--json"], env);
  expect(r.err).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.out).toHaveLength(1);
  return JSON.parse(r.out[0]!);
}

describe("lanecar explain: Bookinfo request routing (jason → v2)", () => {
  it("explains end-user: jason going to reviews v2, in text", async () => {
    const r = await run([
      "explain",
      ...CONFIG,
      "--request",
      "GET http://reviews:9080/reviews/0",
      "-H",
      "end-user: jason",
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(r.out).toEqual([
      `host:        ${REVIEWS}`,
      "labels:      (none)",
      "rule:        reviews/0",
      `destination: ${REVIEWS} (subset v2)`,
      "fallback:    none",
      "result:      proxied (route)",
      "endpoints:",
      "  127.0.0.1:19084  app=reviews,version=v2",
      "why:",
      "  - matched rule reviews/0",
      `  - destination ${REVIEWS} subset v2`,
      `  - 1 available endpoint(s) in outbound|9080|v2|${REVIEWS}`,
    ]);
  });

  it("gives the SPEC's JSON shape: jason → v2 by rule reviews/0", async () => {
    const e = await explainJson([
      ...CONFIG,
      "-r",
      "GET http://reviews:9080/reviews/0",
      "-H",
      "End-User: jason",
    ]);
    expect(e).toMatchObject({
      host: REVIEWS,
      rule: "reviews/0",
      labels: {},
      destination: { host: REVIEWS, subset: "v2" },
      fallback: null,
      endpoints: [
        { address: "127.0.0.1", port: 19084, labels: { app: "reviews", version: "v2" }, available: true },
      ],
    });
  });

  it.each([
    ["no end-user header", []],
    ["another user", ["-H", "end-user: alice"]],
    ["jason in other case (exact match is case-sensitive)", ["-H", "end-user: Jason"]],
  ])("sends %s to reviews v1 by rule reviews/1", async (_, headers) => {
    const e = await explainJson([...CONFIG, "-r", "GET http://reviews:9080/reviews/0", ...headers]);
    expect(e.rule).toBe("reviews/1");
    expect(e.destination).toEqual({ host: REVIEWS, subset: "v1" });
    expect(e.endpoints.map((x: { port: number }) => x.port)).toEqual([19083]);
  });

  it("routes a host with no VirtualService to all its endpoints, printing subset null", async () => {
    const e = await explainJson([...CONFIG, "-r", "http://ratings:9080/ratings/0"]);
    expect(e.rule).toBeNull();
    expect(e.destination).toStrictEqual({ host: "ratings.default.svc.cluster.local", subset: null });
    expect(e.endpoints.map((x: { port: number }) => x.port)).toEqual([19086]);
  });

  it("answers 404 NR for an unknown host", async () => {
    const e = await explainJson([...CONFIG, "-r", "GET http://nowhere:9080/"]);
    expect(e).toMatchObject({
      host: "nowhere.default.svc.cluster.local",
      rule: null,
      destination: null,
      fallback: null,
      endpoints: [],
      status: 404,
      flag: "NR",
    });
    const text = await run(["explain", ...CONFIG, "-r", "GET http://nowhere:9080/"]);
    expect(text.code).toBe(0);
    expect(text.out).toContain("result:      404 NR answered by Lanecar (noroute)");
  });
});

describe("lanecar explain: ASM lanes", () => {
  const GRAY = "ASM_TRAFFIC_TAG=gray,app=productpage";

  it("sends a gray pod's call to reviews to the gray subset", async () => {
    const e = await explainJson([...ASM, "-r", "GET http://reviews:9080/reviews/0", "--pod-labels", GRAY]);
    expect(e.labels).toEqual({ trafficlabel: "gray" });
    expect(e.destination).toEqual({ host: REVIEWS, subset: "gray" });
    expect(e.fallback).toBeNull();
    expect(e.endpoints.map((x: { port: number }) => x.port)).toEqual([19105]);
  });

  it("falls back from gray to prod for details, which has no gray instance", async () => {
    const e = await explainJson([...ASM, "-r", "GET http://details:9080/details/0", "--pod-labels", GRAY]);
    expect(e.destination).toEqual({ host: DETAILS, subset: "gray" });
    expect(e.fallback).toEqual({
      reason: "noinstances",
      from: { host: DETAILS, subset: "gray" },
      to: { host: DETAILS, subset: "prod" },
    });
    expect(e.endpoints).toEqual([
      {
        address: "127.0.0.1",
        port: 19103,
        labels: { app: "details", version: "v1", ASM_TRAFFIC_TAG: "prod" },
        available: true,
      },
    ]);
  });

  it("shows the fallback in text too", async () => {
    const r = await run(["explain", ...ASM, "-r", "GET http://details:9080/details/0", "--pod-labels", GRAY]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`fallback:    noinstances: ${DETAILS} (subset gray) -> ${DETAILS} (subset prod)`);
    expect(r.out).toContain("labels:      trafficlabel=gray");
  });

  it("keeps a prod pod's call in prod", async () => {
    const e = await explainJson([
      ...ASM,
      "-r",
      "GET http://reviews:9080/",
      "--pod-labels",
      "ASM_TRAFFIC_TAG=prod",
    ]);
    expect(e.destination).toEqual({ host: REVIEWS, subset: "prod" });
    expect(e.endpoints.map((x: { port: number }) => x.port)).toEqual([19104]);
  });
});

describe("lanecar explain: environment variables", () => {
  it("reads LANECAR_POD_LABELS, and a --pod-labels flag wins over it", async () => {
    const args = [...ASM, "-r", "GET http://reviews:9080/"];
    const env = { LANECAR_POD_LABELS: "ASM_TRAFFIC_TAG=gray" };
    expect((await explainJson(args, env)).destination.subset).toBe("gray");
    expect(
      (await explainJson([...args, "--pod-labels", "ASM_TRAFFIC_TAG=prod"], env)).destination.subset,
    ).toBe("prod");
  });

  it("reads LANECAR_NAMESPACE for the calling pod and for resources without a namespace", async () => {
    const e = await explainJson([...ASM, "-r", "GET http://reviews:9080/"], {
      LANECAR_NAMESPACE: "shop",
      LANECAR_POD_LABELS: "ASM_TRAFFIC_TAG=gray",
    });
    expect(e.host).toBe("reviews.shop.svc.cluster.local");
    expect(e.destination).toEqual({ host: "reviews.shop.svc.cluster.local", subset: "gray" });
    expect(e.endpoints.map((x: { port: number }) => x.port)).toEqual([19105]);
  });

  it("reads LANECAR_CONFIG (several paths), LANECAR_REQUEST, LANECAR_HEADER and LANECAR_JSON", async () => {
    const r = await run(["explain"], {
      LANECAR_CONFIG: BOOKINFO_JASON.join(","),
      LANECAR_REQUEST: "GET http://reviews:9080/reviews/0",
      LANECAR_HEADER: "end-user: jason",
      LANECAR_JSON: "true",
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0]!).destination).toEqual({ host: REVIEWS, subset: "v2" });
  });
});

describe("lanecar explain: --pod-labels-file (downward API)", () => {
  it('reads key="value" lines as Kubernetes writes metadata.labels', async () => {
    const f = join(tmp, "labels");
    writeFileSync(
      f,
      'app="productpage"\nASM_TRAFFIC_TAG="gray"\npod-template-hash="7c9f8d5b6"\nnote="a \\"quoted\\" value"\n',
    );
    const e = await explainJson([...ASM, "-r", "GET http://details:9080/", "--pod-labels-file", f]);
    expect(e.labels).toEqual({ trafficlabel: "gray" });
    expect(e.fallback?.reason).toBe("noinstances");
  });

  it("also reads LANECAR_POD_LABELS_FILE", async () => {
    const f = join(tmp, "labels-env");
    writeFileSync(f, 'ASM_TRAFFIC_TAG="gray"\n');
    const e = await explainJson([...ASM, "-r", "GET http://reviews:9080/"], { LANECAR_POD_LABELS_FILE: f });
    expect(e.destination.subset).toBe("gray");
  });

  it("exits 2 naming the file and line of a malformed entry", async () => {
    const f = join(tmp, "bad-labels");
    writeFileSync(f, 'app="productpage"\njust-a-word\n');
    const r = await run(["explain", ...ASM, "-r", "GET http://reviews:9080/", "--pod-labels-file", f]);
    expect(r).toEqual({ code: 2, out: [], err: [`lanecar explain: ${f}:2: expected key="value"`] });
    writeFileSync(f, 'app="productpage\n');
    const r2 = await run(["explain", ...ASM, "-r", "GET http://reviews:9080/", "--pod-labels-file", f]);
    expect(r2).toEqual({
      code: 2,
      out: [],
      err: [`lanecar explain: ${f}:1: value "productpage is not a quoted string`],
    });
  });

  it("exits 2 for a missing file, and for --pod-labels together with --pod-labels-file", async () => {
    const missing = join(tmp, "no-such-labels");
    expect(
      await run(["explain", ...ASM, "-r", "GET http://reviews:9080/", "--pod-labels-file", missing]),
    ).toEqual({
      code: 2,
      out: [],
      err: [`lanecar explain: cannot read --pod-labels-file ${missing}: ENOENT`],
    });
    const both = await run([
      "explain",
      ...ASM,
      "-r",
      "GET http://r/",
      "--pod-labels",
      "a=b",
      "--pod-labels-file",
      missing,
    ]);
    expect(both).toEqual({
      code: 2,
      out: [],
      err: ["lanecar explain: give --pod-labels or --pod-labels-file, not both"],
    });
  });
});

describe("lanecar explain: usage errors (exit 2, one clear line, no stack)", () => {
  const cases: [string, string[], string][] = [
    ["a header without a colon", ["-H", "end-user jason"], 'header "end-user jason" is not "name: value"'],
    ["a header with an empty name", ["-H", ": jason"], 'header ": jason" is not "name: value"'],
    [
      "a header name with a space",
      ["-H", "end user: jason"],
      'header name "end user" is not a valid HTTP header name',
    ],
    [
      "a header value with CR/LF",
      ["-H", "end-user: jason\r\nx-evil: 1"],
      "header end-user: value must not contain CR, LF or NUL",
    ],
    [
      "pod labels that are not k=v",
      ["--pod-labels", "ASM_TRAFFIC_TAG"],
      'pod label "ASM_TRAFFIC_TAG" is not k=v',
    ],
  ];
  it.each(cases)("rejects %s", async (_, extra, message) => {
    const r = await run(["explain", ...CONFIG, "-r", "GET http://reviews:9080/reviews/0", ...extra]);
    expect(r).toEqual({ code: 2, out: [], err: [`lanecar explain: ${message}`] });
  });

  const requests: [string, string][] = [
    ["G3T http://reviews:9080/", '"G3T" is not an HTTP method'],
    ["GET http://[reviews/", '"http://[reviews/" is not a URL such as http://reviews:9080/reviews/0'],
    ["GET /reviews/0", 'origin-form target "/reviews/0" needs a Host header (-H "host: reviews:9080")'],
  ];
  it.each(requests)("rejects the request line %j", async (request, message) => {
    const r = await run(["explain", ...CONFIG, "--request", request]);
    expect(r).toEqual({ code: 2, out: [], err: [`lanecar explain: ${message}`] });
  });

  it("accepts an origin-form request with a Host header", async () => {
    const e = await explainJson([
      ...CONFIG,
      "-r",
      "GET /reviews/0",
      "-H",
      "host: reviews:9080",
      "-H",
      "end-user: jason",
    ]);
    expect(e.destination).toEqual({ host: REVIEWS, subset: "v2" });
  });

  it("requires --config and --request", async () => {
    const message = ['lanecar explain: explain needs --config PATH and --request "METHOD URL"'];
    expect(await run(["explain", "-r", "GET http://reviews:9080/"])).toEqual({
      code: 2,
      out: [],
      err: message,
    });
    expect(await run(["explain", ...CONFIG])).toEqual({ code: 2, out: [], err: message });
  });

  it("rejects a --gateway the config does not define", async () => {
    const r = await run([
      "explain",
      ...CONFIG,
      "-r",
      "GET http://reviews:9080/",
      "--gateway",
      "bookinfo-gateway",
    ]);
    expect(r).toEqual({
      code: 2,
      out: [],
      err: ["lanecar explain: Gateway default/bookinfo-gateway is not defined in the config"],
    });
  });

  it("exits 1 with the config errors on stderr when the config is invalid", async () => {
    const r = await run(["explain", "-c", fixture("broken"), "-r", "GET http://reviews:9080/"]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(12);
    expect(r.err).toContain(
      `${fixture("broken")}/routes.yaml:14:9 VirtualService/default/reviews: spec.http[0].route[1].weight: must be >= 0`,
    );
  });
});

describe("lanecar explain: every action the proxy applies (issue 12 item 8)", () => {
  const ACTIONS = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: 19201}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: 19202}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - name: abort
    match: [{headers: {end-user: {exact: jason}}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: ratings, subset: v1}}]
  - name: busy
    match: [{uri: {prefix: /api/}}]
    fault:
      delay: {fixedDelay: 2s, percentage: {value: 10}}
      abort: {httpStatus: 503, percentage: {value: 0.5}}
    mirror: {host: ratings, subset: v2}
    mirrorPercentage: {value: 25}
    timeout: 1.5s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,reset"}
    rewrite: {uri: /v2/, authority: ratings.internal}
    headers:
      request: {set: {x-from: lanecar}, remove: [cookie]}
      response: {add: {x-served-by: ratings}}
    route: [{destination: {host: ratings, subset: v1}, headers: {request: {add: {x-dest: v1}}}}]
  - name: moved
    match: [{uri: {prefix: /old/}}]
    redirect: {uri: /new, authority: elsewhere:8080, redirectCode: 302}
`;
  let file: string;
  beforeAll(() => {
    file = join(tmp, "actions.yaml");
    writeFileSync(file, ACTIONS);
  });

  it("reports a 100% abort as answered by Lanecar with its status and FI", async () => {
    const argv = ["-c", file, "-r", "GET http://ratings:9080/ratings/0", "-H", "end-user: jason"];
    const e = await explainJson(argv);
    expect(e).toMatchObject({
      rule: "ratings/abort",
      action: "abort",
      status: 500,
      flag: "FI",
      fault: { delay: null, abort: { httpStatus: 500, percentage: 100 } },
    });
    const t = await run(["explain", ...argv]);
    expect(t.out).toContain("result:      500 FI answered by Lanecar (fault abort, 100%)");
  });

  it("shows fault percentages, mirror, timeout, retries, rewrite and header operations, in JSON and text", async () => {
    const argv = ["-c", file, "-r", "GET http://ratings:9080/api/x?q=1"];
    const e = await explainJson(argv);
    expect(e).toMatchObject({
      rule: "ratings/busy",
      action: "route",
      status: null,
      fault: { delay: { fixedDelayMs: 2000, percentage: 10 }, abort: { httpStatus: 503, percentage: 0.5 } },
      mirrors: [{ host: "ratings.default.svc.cluster.local", subset: "v2", percentage: 25 }],
      timeoutMs: 1500,
      retries: { attempts: 3, perTryTimeoutMs: 500, retryOn: ["5xx", "reset"], default: false },
      rewrite: { path: "/v2/x?q=1", authority: "ratings.internal" },
      headers: {
        request: { set: [["x-from", "lanecar"]], add: [["x-dest", "v1"]], remove: ["cookie"] },
        response: { set: [], add: [["x-served-by", "ratings"]], remove: [] },
      },
    });
    const t = await run(["explain", ...argv]);
    for (const line of [
      "result:      proxied (route)",
      "fault:       delay 2000ms (10%)",
      "fault:       abort 503 FI (0.50%)",
      "mirror:      ratings.default.svc.cluster.local (subset v2) (25%)",
      "timeout:     1500ms",
      "retries:     3 x 500ms on 5xx,reset",
      "rewrite:     /v2/x?q=1 (authority ratings.internal)",
      "headers:     request set x-from: lanecar",
      "headers:     request add x-dest: v1",
      "headers:     request remove cookie",
      "headers:     response add x-served-by: ratings",
    ])
      expect(t.out).toContain(line);
  });

  it("shows where a redirect sends the client", async () => {
    const e = await explainJson(["-c", file, "-r", "GET http://ratings:9080/old/a"]);
    expect(e).toMatchObject({
      action: "redirect",
      status: 302,
      redirect: { status: 302, location: "http://elsewhere:8080/new" },
    });
  });

  it("says so when the host's VirtualService has no rule matching the request", async () => {
    const limited = join(tmp, "limited.yaml");
    writeFileSync(
      limited,
      ACTIONS.replace("  - name: abort\n", "  - name: abort\n").replace(/\n {2}- name: busy[\s\S]*$/, "\n"),
    );
    const e = await explainJson(["-c", limited, "-r", "GET http://ratings:9080/ratings/0"]);
    expect(e).toMatchObject({ status: 404, flag: "NR", rule: null });
    expect(e.reasons).toContain(
      "the VirtualService for ratings.default.svc.cluster.local has no rule matching this request: 404 NR",
    );
  });

  it("reads an IPv6 literal as an address, not a short service name", async () => {
    const e = await explainJson(["-c", file, "-r", "GET http://[::1]:9080/"]);
    expect(e.host).toBe("::1");
    expect(e).toMatchObject({ status: 404, flag: "NR" });
  });

  it("--namespace help says what the flag sets", async () => {
    const r = await run(["explain", "--help"]);
    expect(r.out.join("\n")).toMatch(
      /--namespace VALUE +namespace of the calling pod: short hosts \(reviews\) mean reviews\.NS\.svc\.cluster\.local/,
    );
  });
});

describe("lanecar explain: security.istio.io policies at the destination", () => {
  const POLICIES = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]}}]}]
`;

  it("text: one authz line per destination workload, and the plaintext note", async () => {
    const file = join(tmp, "policies.yaml");
    writeFileSync(file, POLICIES);
    const r = await run([
      "explain",
      ...CONFIG,
      "--config",
      file,
      "--request",
      "GET http://reviews:9080/reviews/0",
      "-H",
      "end-user: jason",
    ]);
    expect(r.code).toBe(0);
    expect(r.out.slice(6, 10)).toEqual([
      "endpoints:",
      "  127.0.0.1:19084  app=reviews,version=v2",
      "authz:       workload default {app=reviews,version=v2} port 19084: refused: plaintext on a STRICT port (no policy is consulted); mTLS STRICT (default/default)",
      "             (as plaintext: no principal (give --principal for a mutual-TLS caller); the source IP is unknown)",
    ]);
    // The caller's sidecar still routes it: the destination's sidecar decides.
    expect(r.out[5]).toBe("result:      proxied (route)");
  });

  it("--principal: which policy decided, its action and rule index, for that mutual-TLS caller", async () => {
    const file = join(tmp, "policies-principal.yaml");
    writeFileSync(file, POLICIES);
    const ask = (principal: string) =>
      run([
        "explain",
        ...CONFIG,
        "--config",
        file,
        "--request",
        "GET http://reviews:9080/reviews/0",
        "-H",
        "end-user: jason",
        "--principal",
        principal,
      ]);
    const allowed = await ask("spiffe://cluster.local/ns/default/sa/bookinfo-productpage");
    expect(allowed.out.slice(8, 10)).toEqual([
      "authz:       workload default {app=reviews,version=v2} port 19084: allowed by default/reviews-viewer (ALLOW rule 0); mTLS STRICT (default/default)",
      "             (as a mutual-TLS caller spiffe://cluster.local/ns/default/sa/bookinfo-productpage; the source IP is unknown)",
    ]);
    const denied = await ask("cluster.local/ns/default/sa/ratings");
    expect(denied.out[8]).toBe(
      "authz:       workload default {app=reviews,version=v2} port 19084: denied (403 RBAC): no ALLOW policy matches; mTLS STRICT (default/default)",
    );
    const bad = await ask("productpage");
    expect(bad.code).toBe(2);
    expect(bad.err.join("\n")).toContain('--principal "productpage" is not a SPIFFE ID');
  });

  it("--json: an authorization list beside the SPEC's fields", async () => {
    const file = join(tmp, "policies-json.yaml");
    writeFileSync(file, POLICIES);
    const e = await explainJson([...CONFIG, "--config", file, "-r", "GET http://reviews:9080/reviews/0"]);
    expect(e.destination).toEqual({ host: REVIEWS, subset: "v1" });
    expect(e.authorization).toEqual([
      {
        namespace: "default",
        labels: { app: "reviews", version: "v1" },
        port: 19083,
        endpoints: ["127.0.0.1:19083"],
        allowed: false,
        policy: null,
        reason: "no-allow-match",
        action: null,
        rule: null,
        audit: false,
        mtls: { mode: "STRICT", policy: "default/default" },
        principal: null,
        refused: true,
      },
    ]);
  });

  it("without policies the text has no authz line and --json an entry with the defaults", async () => {
    const r = await run(["explain", ...CONFIG, "--request", "GET http://reviews:9080/reviews/0"]);
    expect(r.out.some((l) => l.startsWith("authz:"))).toBe(false);
    const e = await explainJson([...CONFIG, "-r", "GET http://reviews:9080/reviews/0"]);
    expect(e.authorization).toMatchObject([
      { allowed: true, reason: "no-policy", mtls: { mode: "PERMISSIVE", policy: null } },
    ]);
  });
});
