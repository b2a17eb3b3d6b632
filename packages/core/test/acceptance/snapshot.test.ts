/** Config snapshots: texts or paths in, one immutable compiled config out (or every error). */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { buildSnapshot, ConfigSnapshot, formatDiagnostic, loadSnapshot } from "../../src/index.js";
import { route, serviceEntry, snap } from "../route/support.js";

const SE = serviceEntry("reviews", [{ port: 19001 }]);
const BAD_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews}, weight: -1}
    - {destination: {host: reviews}, weight: 1}
`;

describe("buildSnapshot", () => {
  it("compiles valid texts, with a version that depends on file names and contents only", () => {
    const a = buildSnapshot([{ file: "a.yaml", text: SE }]);
    const b = buildSnapshot([{ file: "a.yaml", text: SE }]);
    const c = buildSnapshot([{ file: "b.yaml", text: SE }]);
    expect(a.snapshot).toBeInstanceOf(ConfigSnapshot);
    expect(a.snapshot!.version).toMatch(/^[0-9a-f]{12}$/);
    expect(b.snapshot!.version).toBe(a.snapshot!.version);
    expect(c.snapshot!.version).not.toBe(a.snapshot!.version);
    expect(a.snapshot!.files).toEqual(["a.yaml"]);
    expect(a.snapshot!.resources.map((r) => r.id)).toEqual(["ServiceEntry/default/reviews"]);
  });

  it("gives no snapshot and every error when invalid", () => {
    const r = buildSnapshot([
      { file: "se.yaml", text: SE },
      { file: "routes.yaml", text: BAD_VS },
    ]);
    expect(r.snapshot).toBeUndefined();
    expect(r.diagnostics.map(formatDiagnostic)).toContainEqual(
      expect.stringMatching(
        /^routes\.yaml:8:\d+ VirtualService\/default\/reviews: spec\.http\[0\]\.route\[0\]\.weight: /,
      ),
    );
  });

  it("applies the namespace option to resources without one", () => {
    const s = snap(SE, { namespace: "shop" });
    expect(s.registry.hasService("reviews.shop.svc.cluster.local")).toBe(true);
    expect(route(s, "GET http://reviews/", { namespace: "shop" }).kind).toBe("route");
    expect(route(s, "GET http://reviews/").kind).toBe("noroute");
  });

  it("keeps warnings (skipped kinds) alongside a usable snapshot", () => {
    const r = buildSnapshot([
      {
        file: "k8s.yaml",
        text: `${SE}---\napiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec: {}\n`,
      },
    ]);
    expect(r.snapshot).toBeDefined();
    expect(r.snapshot!.warnings.map((d) => d.message)).toContainEqual(
      expect.stringMatching(/kind Service is not used by Lanecar; skipped/),
    );
  });

  it("builds routers per context and label resolvers per workload once", () => {
    const s = snap(SE);
    expect(s.router()).toBe(s.router("mesh"));
    expect(s.router("default/edge")).not.toBe(s.router());
    expect(s.router("default/edge").context).toBe("default/edge");
    expect(s.labelResolver("default", { a: "1", b: "2" })).toBe(
      s.labelResolver("default", { b: "2", a: "1" }),
    );
    expect(s.labelResolver("default", { a: "1" })).not.toBe(s.labelResolver("other", { a: "1" }));
  });

  it("qualifies gateway names and finds Gateways", () => {
    expect(ConfigSnapshot.gatewayContext("edge", "default")).toBe("default/edge");
    expect(ConfigSnapshot.gatewayContext("istio-system/edge", "default")).toBe("istio-system/edge");
    const s = snap(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`);
    expect(s.gateway("istio-system/edge")?.name).toBe("edge");
    expect(s.gateway("default/edge")).toBeUndefined();
  });
});

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "lanecar-core-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("loadSnapshot", () => {
  it("reads files and directories (recursively)", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "se.yaml"), SE);
    writeFileSync(join(dir, "notes.txt"), "not yaml");
    const r = loadSnapshot([dir]);
    expect(r.snapshot?.files).toEqual([join(dir, "se.yaml")]);
    const asm = loadSnapshot([fileURLToPath(new URL("../fixtures/asm", import.meta.url))]);
    expect(asm.snapshot?.ofKind("TrafficLabel").map((t) => t.id)).toEqual(["TrafficLabel/default/default"]);
  });

  it("reports a missing path and gives no snapshot", () => {
    const r = loadSnapshot(["/nonexistent/lanecar/config.yaml"]);
    expect(r.snapshot).toBeUndefined();
    expect(r.diagnostics.map(formatDiagnostic)).toEqual([
      "/nonexistent/lanecar/config.yaml:1:1 -: cannot read: no such file or directory (ENOENT)",
    ]);
  });

  it("reports errors of every file, with their positions", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "routes.yaml"), BAD_VS);
    writeFileSync(join(dir, "se.yaml"), SE);
    const r = loadSnapshot([dir]);
    expect(r.snapshot).toBeUndefined();
    expect(
      r.diagnostics.some(
        (d) => d.file === join(dir, "routes.yaml") && d.path === "spec.http[0].route[0].weight",
      ),
    ).toBe(true);
  });
});
