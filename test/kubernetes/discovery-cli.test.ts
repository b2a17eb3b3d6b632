/** `--discovery` flags of `lanecar sidecar|gateway`: misuse is one clear line, never a stack trace. */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KubeApiFake } from "../support/kube-api-fake.js";
import { LANECAR_BIN } from "../support/lanecar.js";

function lanecar(args: string[], env = process.env): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LANECAR_BIN, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env,
    });
    let err = "";
    child.stderr.on("data", (c) => {
      err += c.toString();
    });
    child.on("close", (code) => resolve({ code, err }));
  });
}

describe("lanecar sidecar|gateway --discovery", () => {
  it("--kubeconfig without --discovery kubernetes is a usage error", async () => {
    const r = await lanecar(["sidecar", "--service", "reviews", "--config", "x.yaml", "--kubeconfig", "kc"]);
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe("lanecar sidecar: --kubeconfig and --context need --discovery kubernetes");
  });

  it("an unknown discovery kind and unpaired contexts are usage errors", async () => {
    const a = await lanecar(["gateway", "--discovery", "consul"]);
    expect(a.code).toBe(2);
    expect(a.err.trim()).toBe('lanecar gateway: --discovery "consul" is not supported (kubernetes)');
    const b = await lanecar([
      "gateway",
      "--discovery",
      "kubernetes",
      "--kubeconfig",
      "a",
      "--kubeconfig",
      "b",
      "--context",
      "x",
    ]);
    expect(b.code).toBe(2);
    expect(b.err.trim()).toBe(
      "lanecar gateway: give one --context per --kubeconfig, or one --kubeconfig with several --context",
    );
  });

  it("an unreadable kubeconfig exits 1 with one line naming it", async () => {
    const r = await lanecar([
      "sidecar",
      "--service",
      "reviews",
      "--discovery",
      "kubernetes",
      "--kubeconfig",
      "/nonexistent/kubeconfig",
    ]);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lanecar sidecar: kubernetes: cannot load \/nonexistent\/kubeconfig: /);
  });

  it("without a kubeconfig and outside a cluster it says so in one line", async () => {
    const env = { ...process.env };
    delete env.KUBERNETES_SERVICE_HOST;
    const r = await lanecar(["gateway", "--discovery", "kubernetes"], env);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(
      "lanecar gateway: kubernetes: cannot load the in-cluster service account: not running in a cluster (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig FILE",
    );
  });

  it("an invalid config file read with discovery is reported as config errors, one line each", async () => {
    const api = await new KubeApiFake().start();
    try {
      const dir = mkdtempSync(join(tmpdir(), "lanecar-kube-cli-"));
      writeFileSync(join(dir, "kubeconfig"), api.kubeconfig());
      writeFileSync(
        join(dir, "bad.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec: {hosts: [r], http: [{route: [{destination: {host: r}, weight: -1}]}]}\n",
      );
      const r = await lanecar([
        "sidecar",
        "--service",
        "reviews",
        "--discovery",
        "kubernetes",
        "--kubeconfig",
        join(dir, "kubeconfig"),
        "--config",
        join(dir, "bad.yaml"),
      ]);
      expect(r.code).toBe(1);
      expect(r.err.trim().split("\n")).toEqual([
        "lanecar sidecar: config is invalid:",
        expect.stringMatching(
          /bad\.yaml:4:\d+ VirtualService\/default\/r: spec\.http\[0\]\.route\[0\]\.weight: /,
        ),
      ]);
    } finally {
      await api.close();
    }
  });
});
