/**
 * Issue 12 item 2: ServiceEntry `resolution` decides where a host's endpoints come from. DNS and
 * DNS_ROUND_ROBIN without endpoints resolve the hosts themselves; NONE without endpoints forwards
 * to the host the app asked for; STATIC is its endpoints only. Istio's own egress task files load
 * and route to the resolved host.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { errors, load } from "../resources/helpers.js";
import { route, snap } from "../route/support.js";

const TASKS = fileURLToPath(new URL("../../../../../shared/conformance/istio/tasks/", import.meta.url));
const task = (f: string) => readFileSync(`${TASKS}${f}.yaml`, "utf8");

const se = (resolution: string, extra = "") => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com, www.example.com]
  location: MESH_EXTERNAL
  ports: [{number: 80, name: http}, {number: 8443, name: alt, targetPort: 9443}]
  resolution: ${resolution}
${extra}`;

const endpoints = (d: ReturnType<typeof route>) => (d.cluster?.endpoints ?? []).map((e) => e.key);

describe("ServiceEntry resolution (issue 12 item 2)", () => {
  it.each(["DNS", "DNS_ROUND_ROBIN"])(
    "%s without endpoints: each host is its own endpoint, resolved by the proxy",
    (r) => {
      const s = snap(se(r));
      expect(endpoints(route(s, "GET http://api.example.com/x"))).toEqual(["api.example.com:80"]);
      expect(endpoints(route(s, "GET http://www.example.com/x"))).toEqual(["www.example.com:80"]);
      expect(endpoints(route(s, "GET http://www.example.com:8443/x"))).toEqual(["www.example.com:9443"]);
      expect([...s.registry.dnsNames()]).toEqual([
        ["api.example.com", r],
        ["www.example.com", r],
      ]);
    },
  );

  it("DNS with endpoints that are names: those names are resolved; IP endpoints are not", () => {
    const s = snap(
      se("DNS", '  endpoints:\n  - {address: eu.example.net}\n  - {address: 10.0.0.7}\n  - {address: "::1"}'),
    );
    expect(endpoints(route(s, "GET http://api.example.com/x"))).toEqual([
      "eu.example.net:80",
      "10.0.0.7:80",
      "[::1]:80",
    ]);
    expect([...s.registry.dnsNames()]).toEqual([["eu.example.net", "DNS"]]);
  });

  it("NONE without endpoints forwards to the host the app asked for (looked up by the system resolver)", () => {
    const s = snap(se("NONE"));
    expect(endpoints(route(s, "GET http://www.example.com/x"))).toEqual(["www.example.com:80"]);
    expect(s.registry.dnsNames().size).toBe(0);
    // resolution defaults to NONE, as in Istio
    const dflt = snap(se("NONE").replace("  resolution: NONE\n", ""));
    expect(endpoints(route(dflt, "GET http://api.example.com/x"))).toEqual(["api.example.com:80"]);
  });

  it("NONE without endpoints on a MESH_INTERNAL service: no instance (its lanes fall back)", () => {
    const s = snap(se("NONE").replace("MESH_EXTERNAL", "MESH_INTERNAL"));
    expect(endpoints(route(s, "GET http://www.example.com/x"))).toEqual([]);
  });

  it("STATIC is its endpoints only: none means no instance", () => {
    const s = snap(se("STATIC"));
    const d = route(s, "GET http://api.example.com/x");
    expect(endpoints(d)).toEqual([]);
    expect(d.healthy).toBe(false);
  });

  it("DNS without endpoints refuses a wildcard host (there is no name to resolve), as Istio", () => {
    const text = se("DNS").replace("[api.example.com, www.example.com]", '["*.example.com"]');
    expect(errors(load(text).diagnostics)).toEqual([
      't.yaml:5:11 ServiceEntry/default/ext: spec.hosts[0]: "*.example.com" is a wildcard: resolution DNS without endpoints needs host names',
    ]);
    // With endpoints the hosts are not resolved: a wildcard is fine.
    expect(errors(load(`${text}  endpoints: [{address: eu.example.net}]\n`).diagnostics)).toEqual([]);
  });

  it("Istio's egress task: http://httpbin.org/headers goes to httpbin.org:80, resolved by DNS, with the 3 s timeout", () => {
    const s = snap([task("egress-control__se-httpbin-ext"), task("egress-control__vs-httpbin-ext-timeout")]);
    const d = route(s, "GET http://httpbin.org/headers");
    expect(d.kind).toBe("route");
    expect(d.healthy).toBe(true);
    expect(endpoints(d)).toEqual(["httpbin.org:80"]);
    expect(d.cluster?.service.location).toBe("MESH_EXTERNAL");
    expect(d.route?.spec.timeoutMs).toBe(3000);
    expect(s.registry.dnsNames().get("httpbin.org")).toBe("DNS");
  });

  it("Istio's egress tasks with several hosts and ports load and resolve each host", () => {
    const s = snap([task("egress-gateway__se-cnn")]);
    expect(endpoints(route(s, "GET http://edition.cnn.com/politics"))).toEqual(["edition.cnn.com:80"]);
    const g = snap([task("egress-control__se-google")]);
    expect(g.registry.dnsNames().get("www.google.com")).toBe("DNS");
  });
});
