/**
 * Why injection rewrites kubelet's probes, shown on a real sidecar: with mutual TLS STRICT its
 * inbound refuses a plaintext HTTP GET — what kubelet's probe of the app port is once the port is
 * captured — while the probe as the injector rewrote it, on the admin port, reaches the app and
 * returns the app's own status (500 stays a failure, an app that does not answer is 503). Bad
 * `--app-probes` is one line. Needs `pnpm build`.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INJECT_DEFAULTS, injectPod, type JsonObject } from "../../packages/cli/src/kube/inject-pod.js";
import { initCa, issueWorkload } from "../../packages/proxy/src/identity/index.js";
import { runLanecarToExit, startLanecar } from "../support/lanecar.js";
import { freePort, freePorts } from "../support/ports.js";

const dir = mkdtempSync(join(tmpdir(), "lanecar-app-probes-"));
let app: Server;
let appPort = 0;

beforeAll(async () => {
  initCa(join(dir, "ca"));
  issueWorkload(join(dir, "ca"), join(dir, "id"), {
    namespace: "default",
    serviceAccount: "web",
    ttlMs: 3600_000,
  });
  writeFileSync(
    join(dir, "mesh.yaml"),
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: 127.0.0.1}]\n",
  );
  appPort = await freePort();
  app = createServer((req, res) => {
    res.writeHead(req.url === "/healthz" && req.headers["x-probe"] === "kubelet" ? 200 : 500).end();
  });
  await new Promise<void>((r) => app.listen(appPort, "127.0.0.1", () => r()));
});

afterAll(async () => {
  await new Promise((r) => app.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** A plaintext GET, as kubelet sends it: the status line, or "" when the connection is refused/closed. */
function plainGet(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" }, () =>
      s.write(
        `GET ${path} HTTP/1.1\r\nhost: 10.0.0.7:${port}\r\nuser-agent: kube-probe/1.32\r\nconnection: close\r\n\r\n`,
      ),
    );
    let out = "";
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(out.split("\r\n")[0]!));
  });
}

describe("kubelet probes through a STRICT sidecar", () => {
  it("the app port refuses the plaintext probe; the rewritten probe on the admin port answers with the app's status", async () => {
    // The pod as injected: its readiness probe moved to the admin port, the original in the env.
    const out = injectPod(
      {
        metadata: { labels: { app: "web" } },
        spec: {
          containers: [
            {
              name: "web",
              image: "web",
              ports: [{ containerPort: appPort }],
              readinessProbe: {
                httpGet: {
                  path: "/healthz",
                  port: appPort,
                  httpHeaders: [{ name: "X-Probe", value: "kubelet" }],
                },
              },
              livenessProbe: { httpGet: { path: "/other", port: appPort } },
            },
          ],
        },
      },
      INJECT_DEFAULTS,
    );
    if (!out.injected) throw new Error("not injected");
    const proxy = (out.pod.spec!.initContainers as JsonObject[])[1]!;
    const probes = (proxy.env as { name: string; value?: string }[]).find(
      (e) => e.name === "LANECAR_APP_PROBES",
    )!;
    const web = (out.pod.spec!.containers as { readinessProbe: { httpGet: { path: string } } }[])[0]!;
    const [inbound, outbound, admin] = await freePorts(3);
    const sc = await startLanecar(
      [
        "sidecar",
        "--config",
        join(dir, "mesh.yaml"),
        "--service",
        "web",
        "--app",
        `http://127.0.0.1:${appPort}`,
        "--inbound",
        `127.0.0.1:${inbound}`,
        "--outbound",
        `127.0.0.1:${outbound}`,
        "--identity-dir",
        join(dir, "id"),
        "--mtls-mode",
        "STRICT",
      ],
      `127.0.0.1:${admin}`,
      { LANECAR_APP_PROBES: probes.value!, LANECAR_DATA_PATH: "h1" },
    );
    try {
      // kubelet's original probe, through the capture: plaintext on a STRICT port is refused.
      expect(await plainGet(inbound!, "/healthz")).toBe("");
      // The rewritten one: the app's 200 (it needs the probe's header), its 500, and 404 for paths
      // the injector did not write.
      expect(await plainGet(admin!, web.readinessProbe.httpGet.path)).toBe("HTTP/1.1 200 OK");
      expect(await plainGet(admin!, "/app-health/web/livez")).toBe("HTTP/1.1 500 Internal Server Error");
      expect(await plainGet(admin!, "/app-health/web/startupz")).toMatch(/^HTTP\/1.1 404/);
      // The app gone: the probe fails (503), it does not hang.
      await new Promise((r) => app.close(r));
      expect(await plainGet(admin!, web.readinessProbe.httpGet.path)).toBe(
        "HTTP/1.1 503 Service Unavailable",
      );
      app = createServer().listen(0);
    } finally {
      expect(await sc.stop()).toBe(0);
    }
  });

  it("bad --app-probes is one line, exit 2", async () => {
    const base = ["sidecar", "--config", join(dir, "mesh.yaml"), "--service", "web"];
    const notJson = await runLanecarToExit([...base, "--app-probes", "{"]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr.trim()).toBe("lanecar sidecar: --app-probes is not JSON");
    const elsewhere = await runLanecarToExit([
      ...base,
      "--app-probes",
      '{"/admin/x": {"port": 80, "path": "/"}}',
    ]);
    expect(elsewhere.stderr.trim()).toBe(
      'lanecar sidecar: --app-probes: "/admin/x" is not under /app-health/',
    );
    const noPort = await runLanecarToExit([
      ...base,
      "--app-probes",
      '{"/app-health/a/readyz": {"path": "/"}}',
    ]);
    expect(noPort.stderr.trim()).toBe(
      'lanecar sidecar: --app-probes: "/app-health/a/readyz" needs a port (1-65535) and a path starting with /',
    );
  });
});
