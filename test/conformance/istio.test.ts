/**
 * Conformance on Istio's own files: `../shared/conformance/istio/` (Istio's Bookinfo networking
 * and Kubernetes files, samples, traffic-management task snippets, ASM doc examples), read at
 * test time from beside the repository, never copied into it. Every file must validate with no
 * error (with the DestinationRules it references, as its README says), and every `explain`
 * outcome the README documents must hold: routes, splits within tolerance, faults, mirrors,
 * timeouts, the ingress gateway, egress by DNS.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  buildSnapshot,
  type ConfigSnapshot,
  type ConfigText,
  type Explanation,
  explain,
  formatDiagnostic,
  loadSnapshot,
} from "../../packages/core/src/index.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ISTIO = resolve(REPO_ROOT, "..", "shared", "conformance", "istio");

function requireCorpus(): void {
  if (!existsSync(ISTIO))
    throw new Error(
      `conformance material missing: ${ISTIO} (the shared/ folder must sit beside the repository)`,
    );
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

const rel = (p: string) => relative(ISTIO, p);
const at = (r: string) => {
  requireCorpus();
  return join(ISTIO, r);
};

/** The DestinationRule documents of a file (a companion may also hold VirtualServices of its own). */
function destinationRulesOf(r: string): ConfigText {
  const docs = readFileSync(at(r), "utf8").split(/^---\s*$/m);
  return {
    file: `${r}#DestinationRules`,
    text: docs.filter((d) => /^kind: DestinationRule\s*$/m.test(d)).join("\n---\n"),
  };
}

/** The DestinationRules a file references, per the README (and the same rule for the task snippets). */
function companions(r: string): string[][] {
  if (
    r.startsWith("bookinfo-networking/virtual-service-") ||
    r.startsWith("tasks/request-timeouts__") ||
    r === "tasks/fault-injection__kubectl-get-delay-output.yaml"
  )
    return [
      ["bookinfo-networking/destination-rule-all.yaml"],
      ["bookinfo-networking/destination-rule-all-mtls.yaml"],
    ];
  if (r === "tasks/egress-gateway__vs-direct-cnn.yaml") return [["tasks/egress-gateway__gw-dr-http.yaml"]];
  if (r === "tasks/mirroring__vs-mirror-v2.yaml") return [["tasks/mirroring__default-routing.yaml"]];
  if (r === "asm/asm-doc__routing-by-label__vs-productpage.yaml")
    return [["asm/asm-doc__routing-by-label__dr-productpage__ellipsis-removed.yaml"]];
  return [[]];
}

function load(texts: ConfigText[]): ConfigSnapshot {
  const { snapshot, diagnostics } = buildSnapshot(texts);
  const errs = diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic);
  expect(errs).toEqual([]);
  return snapshot!;
}

const read = (r: string): ConfigText => ({ file: r, text: readFileSync(at(r), "utf8") });

/** Endpoints: one instance per version of each service (the README's setting), on loopback ports. */
const VERSIONS: Record<string, { port: number; versions: string[] }> = {
  productpage: { port: 9080, versions: ["v1"] },
  reviews: { port: 9080, versions: ["v1", "v2", "v3"] },
  ratings: { port: 9080, versions: ["v1", "v2"] },
  details: { port: 9080, versions: ["v1", "v2"] },
  httpbin: { port: 8000, versions: ["v1", "v2"] },
};
let nextPort = 20_000;
const ENDPOINTS: ConfigText = {
  file: "endpoints.yaml",
  text: Object.entries(VERSIONS)
    .map(
      ([svc, { port, versions }]) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${svc}}
spec:
  hosts: [${svc}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  endpoints:
${versions.map((v) => `  - {address: 127.0.0.1, ports: {http: ${nextPort++}}, labels: {app: ${svc}, version: ${v}}}`).join("\n")}
`,
    )
    .join("---\n"),
};

const DR_ALL = "bookinfo-networking/destination-rule-all.yaml";

function setup(...files: (string | ConfigText)[]): ConfigSnapshot {
  requireCorpus();
  return load([ENDPOINTS, ...files.map((f) => (typeof f === "string" ? read(f) : f))]);
}

function ask(
  s: ConfigSnapshot,
  request: string,
  headers: Record<string, string> = {},
  context?: string,
): Explanation {
  return explain(s, { request, headers, ...(context ? { context } : {}) });
}

/** Seeded uniform [0, 1) source (mulberry32), so the split checks are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function split(s: ConfigSnapshot, request: string, draws = 4000): Record<string, number> {
  const rand = seeded(12);
  const n: Record<string, number> = {};
  for (let i = 0; i < draws; i++) {
    const e = explain(s, { request, rand });
    const v = e.destination?.subset ?? "-";
    n[v] = (n[v] ?? 0) + 1 / draws;
  }
  return n;
}

describe("Istio's files validate (../shared/conformance/istio)", () => {
  it("the material is there: a missing shared/ folder fails here, in one line", () => {
    requireCorpus();
    expect(yamlFiles(ISTIO).length).toBeGreaterThan(70);
  });

  it("every file validates with no error, with the DestinationRules it references", () => {
    requireCorpus();
    const failures: string[] = [];
    for (const f of yamlFiles(ISTIO)) {
      for (const extra of companions(rel(f))) {
        const texts = [{ file: rel(f), text: readFileSync(f, "utf8") }, ...extra.map(destinationRulesOf)];
        const { diagnostics } = buildSnapshot(texts);
        for (const d of diagnostics) if (d.severity === "error") failures.push(formatDiagnostic(d));
      }
    }
    expect(failures).toEqual([]);
  });

  it("the CLI's loader reads every folder alone without error (kinds Lanecar does not read are warnings)", () => {
    requireCorpus();
    for (const dir of ["bookinfo-kube", "asm"]) {
      const { diagnostics } = loadSnapshot([at(dir)]);
      expect(diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic)).toEqual([]);
    }
  });
});

describe("Istio's documented explain outcomes (Bookinfo tasks)", () => {
  it("virtual-service-all-v1: every service → subset v1", () => {
    const s = setup(DR_ALL, "bookinfo-networking/virtual-service-all-v1.yaml");
    for (const svc of ["productpage", "reviews", "ratings", "details"]) {
      const e = ask(s, `GET http://${svc}:9080/`);
      expect(e.destination?.subset, svc).toBe("v1");
      expect(e.endpoints.map((p) => p.labels.version)).toEqual(["v1"]);
      expect(e.status).toBeNull();
    }
  });

  it("virtual-service-reviews-test-v2: jason → v2; no end-user or bob → v1", () => {
    const s = setup(DR_ALL, "bookinfo-networking/virtual-service-reviews-test-v2.yaml");
    expect(ask(s, "GET http://reviews:9080/reviews/0", { "end-user": "jason" }).destination?.subset).toBe(
      "v2",
    );
    expect(ask(s, "GET http://reviews:9080/reviews/0").destination?.subset).toBe("v1");
    expect(ask(s, "GET http://reviews:9080/reviews/0", { "end-user": "bob" }).destination?.subset).toBe("v1");
  });

  it("virtual-service-reviews-jason-v2-v3: jason → v2, others → v3", () => {
    const s = setup(DR_ALL, "bookinfo-networking/virtual-service-reviews-jason-v2-v3.yaml");
    expect(ask(s, "GET http://reviews:9080/", { "end-user": "jason" }).destination?.subset).toBe("v2");
    expect(ask(s, "GET http://reviews:9080/", { "end-user": "bob" }).destination?.subset).toBe("v3");
  });

  it.each([
    ["virtual-service-reviews-50-v3", { v1: 0.5, v3: 0.5 }],
    ["virtual-service-reviews-80-20", { v1: 0.8, v2: 0.2 }],
    ["virtual-service-reviews-90-10", { v1: 0.9, v2: 0.1 }],
  ])("%s: the split holds within 3 points over many draws", (name, want) => {
    const s = setup(DR_ALL, `bookinfo-networking/${name}.yaml`);
    const got = split(s, "GET http://reviews:9080/reviews/0");
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const [v, share] of Object.entries(want)) expect(Math.abs(got[v]! - share), v).toBeLessThan(0.03);
  });

  it("virtual-service-reviews-v3: reviews → v3", () => {
    const s = setup(DR_ALL, "bookinfo-networking/virtual-service-reviews-v3.yaml");
    expect(ask(s, "GET http://reviews:9080/").destination?.subset).toBe("v3");
  });

  it("virtual-service-ratings-test-delay: jason gets a 7 s delay (100%), then v1", () => {
    const s = setup(DR_ALL, "bookinfo-networking/virtual-service-ratings-test-delay.yaml");
    const e = ask(s, "GET http://ratings:9080/ratings/0", { "end-user": "jason" });
    expect(e.fault).toEqual({ delay: { fixedDelayMs: 7000, percentage: 100 }, abort: null });
    expect(e.destination?.subset).toBe("v1");
    expect(e.status).toBeNull();
    expect(ask(s, "GET http://ratings:9080/ratings/0").fault).toBeNull();
  });

  it("virtual-service-ratings-test-abort: jason is answered 500 by the proxy (100%), flag FI", () => {
    const s = setup(DR_ALL, "bookinfo-networking/virtual-service-ratings-test-abort.yaml");
    const e = ask(s, "GET http://ratings:9080/ratings/0", { "end-user": "jason" });
    expect(e).toMatchObject({ action: "abort", status: 500, flag: "FI" });
    expect(e.fault?.abort).toEqual({ httpStatus: 500, percentage: 100 });
    expect(ask(s, "GET http://ratings:9080/ratings/0")).toMatchObject({ action: "route", status: null });
  });

  it("fault-injection-details-v1: details is answered 555 by the proxy", () => {
    const s = setup("bookinfo-networking/fault-injection-details-v1.yaml");
    expect(ask(s, "GET http://details:9080/details/0")).toMatchObject({
      action: "abort",
      status: 555,
      flag: "FI",
    });
  });

  it("a fault whose percentage is absent injects nothing (Istio: unspecified = none)", () => {
    const r = "bookinfo-networking/virtual-service-ratings-test-abort.yaml";
    const text = readFileSync(at(r), "utf8").replace(/\n( +)percentage:\n\1 {2}value: [0-9.]+/, "");
    expect(text).not.toContain("percentage");
    const s = setup(DR_ALL, { file: `${r}#no-percentage`, text });
    const e = ask(s, "GET http://ratings:9080/ratings/0", { "end-user": "jason" });
    expect(e).toMatchObject({ action: "route", status: null, flag: null });
    expect(e.fault?.abort?.percentage).toBe(0);
  });

  it("tasks/mirroring__vs-mirror-v2: httpbin → v1, mirrored to v2 (100%)", () => {
    const s = setup(
      destinationRulesOf("tasks/mirroring__default-routing.yaml"),
      "tasks/mirroring__vs-mirror-v2.yaml",
    );
    const e = ask(s, "GET http://httpbin:8000/headers");
    expect(e.destination?.subset).toBe("v1");
    expect(e.mirrors).toEqual([{ host: "httpbin.default.svc.cluster.local", subset: "v2", percentage: 100 }]);
  });

  it("tasks/request-timeouts__reviews-timeout-0.5s: reviews → v2 with a 0.5 s timeout", () => {
    const s = setup(DR_ALL, "tasks/request-timeouts__reviews-timeout-0.5s.yaml");
    const e = ask(s, "GET http://reviews:9080/reviews/0");
    expect(e.destination?.subset).toBe("v2");
    expect(e.timeoutMs).toBe(500);
  });

  it("bookinfo-gateway: /productpage, /static/x, /api/v1/products/0 → productpage; /foo → 404 NR", () => {
    const s = setup("bookinfo-networking/bookinfo-gateway.yaml");
    const gw = "default/bookinfo-gateway";
    for (const path of ["/productpage", "/static/x", "/api/v1/products/0"]) {
      const e = ask(s, `GET http://bookinfo.example.com:8080${path}`, {}, gw);
      expect(e.destination?.host, path).toBe("productpage.default.svc.cluster.local");
      expect(e.status, path).toBeNull();
    }
    expect(ask(s, "GET http://bookinfo.example.com:8080/foo", {}, gw)).toMatchObject({
      status: 404,
      flag: "NR",
    });
  });

  it("tasks/egress-control__se-httpbin-ext: http://httpbin.org/headers is forwarded to httpbin.org, resolved by DNS", () => {
    requireCorpus();
    const s = load([read("tasks/egress-control__se-httpbin-ext.yaml")]);
    const e = ask(s, "GET http://httpbin.org/headers");
    expect(e.host).toBe("httpbin.org");
    expect(e.forward).toEqual({ address: "httpbin.org", port: 80, resolution: "DNS" });
    expect(e.status).toBeNull();
    expect(e.flag).toBeNull();
  });
});
