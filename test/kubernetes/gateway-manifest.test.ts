/**
 * The gateway's Deployment (deploy/kubernetes/30-gateway.yaml) as Lanecar will read it: every flag
 * it passes is one `lanecar gateway` knows, the HTTPS port is the same in the args, the container
 * and the Service (443 → 8443, as Istio's ingress gateway), and the credential Secrets' projected
 * files land where `--credentials-dir` looks for a credentialName (read by the real store).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../packages/cli/src/main.js";
import { CredentialStore } from "../../packages/proxy/src/identity/credentials.js";
import { initCa, issueWorkload } from "../../packages/proxy/src/identity/index.js";
import { docs, type Obj, REPO } from "./schemas.js";

// biome-ignore lint/suspicious/noExplicitAny: walking parsed YAML
type Any = any;

const objects = docs(readFileSync(join(REPO, "deploy/kubernetes/30-gateway.yaml"), "utf8")) as Any[];
const deployment = objects.find((o: Obj) => o.kind === "Deployment");
const service = objects.find((o: Obj) => o.kind === "Service");
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const args: string[] = container.args;

function argOf(flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe("deploy/kubernetes/30-gateway.yaml", () => {
  it("passes only flags `lanecar gateway --help` lists", async () => {
    const out: string[] = [];
    const code = await main(["gateway", "--help"], { out: (l) => out.push(l), err: () => {}, env: {} });
    expect(code).toBe(0);
    const help = out.join("\n");
    const flags = args.filter((a) => a.startsWith("--"));
    expect(flags).toContain("--listen-https");
    expect(flags).toContain("--credentials-dir");
    for (const f of flags) expect(help, f).toContain(f);
  });

  it("serves HTTPS on one port everywhere: --listen-https, containerPort, Service 443's targetPort", () => {
    const port = Number(argOf("--listen-https")!.split(":").pop());
    expect(container.ports.find((p: Any) => p.name === "https").containerPort).toBe(port);
    const svc = service.spec.ports.find((p: Any) => p.name === "https");
    expect(svc.port).toBe(443);
    expect(svc.targetPort).toBe(port);
  });

  it("lays the credential Secrets out as --credentials-dir reads them, readable by the gateway's group", () => {
    const dir = argOf("--credentials-dir")!;
    const mount = container.volumeMounts.find((m: Any) => m.mountPath === dir);
    expect(mount, "a volume is mounted at --credentials-dir").toBeDefined();
    const volume = pod.volumes.find((v: Any) => v.name === mount.name);
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
    expect(volume.projected.defaultMode & 0o040).toBe(0o040);
    // A Secret's keys become the files at `items[].path`, as kubelet writes them.
    const base = mkdtempSync(join(tmpdir(), "lanecar-gw-manifest-"));
    initCa(join(base, "ca"));
    issueWorkload(join(base, "ca"), join(base, "pair"), {
      namespace: "n",
      serviceAccount: "s",
      ttlMs: 3600_000,
    });
    const secretKeys: Record<string, string> = {
      "tls.crt": join(base, "pair", "cert.pem"),
      "tls.key": join(base, "pair", "key.pem"),
    };
    const root = join(base, "mounted");
    const names: string[] = [];
    for (const src of volume.projected.sources) {
      names.push(src.secret.name);
      for (const item of src.secret.items) {
        const to = join(root, item.path);
        mkdirSync(dirname(to), { recursive: true });
        copyFileSync(secretKeys[item.key]!, to);
      }
    }
    expect(names.length).toBeGreaterThan(0);
    const store = new CredentialStore(root);
    for (const name of names) expect(store.get(name).fingerprint256, name).toMatch(/^[0-9A-F:]+$/);
    rmSync(base, { recursive: true, force: true });
  });
});
