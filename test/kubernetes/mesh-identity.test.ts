/**
 * The workload identities on Kubernetes (deploy/kubernetes/mesh-identity/): cert-manager's CA,
 * trust-manager's bundle and the Helm values of csi-driver-spiffe and cert-manager must name
 * each other exactly, and must produce what Lanecar reads. No cluster runs here, so each link a
 * typo would break in a cluster — an issuer name, a Secret, a ConfigMap key, a mount path, a
 * file name, the CSI driver name, the fs-group — is checked against the other side, and the
 * file names against the identity loader itself: a directory laid out as the driver's values say
 * is loaded by `loadWorkloadCert`, and one laid out with the driver's defaults is not.
 */
import { mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DEFAULT_TRUST_DOMAIN,
  IDENTITY_DIR,
  SPIFFE_CSI_DRIVER,
} from "../../packages/cli/src/kube/inject-identity.js";
import { INJECT_DEFAULTS, injectPod, type JsonObject } from "../../packages/cli/src/kube/inject-pod.js";
import { initCa, issueWorkload, loadWorkloadCert } from "../../packages/proxy/src/identity/index.js";
import { fileDocs, type Obj, REPO, validateBuiltIn, yamlFiles } from "./schemas.js";

const MESH = join(REPO, "deploy/kubernetes/mesh-identity");
const all = yamlFiles(MESH).flatMap(fileDocs);
const find = (kind: string, name: string) =>
  all.find((o) => o.kind === kind && (o.metadata as Obj).name === name) as Obj & { spec: Obj };
const [csiValues] = fileDocs(join(MESH, "helm/csi-driver-spiffe-values.yaml")) as {
  app: {
    trustDomain: string;
    certificateRequestDuration: string;
    issuer: { name: string; kind: string; group: string };
    approver: { signerName: string };
    driver: {
      volumeFileName: { cert: string; key: string; ca: string };
      sourceCABundle: string;
      volumes: { name: string; configMap: { name: string } }[];
      volumeMounts: { name: string; mountPath: string }[];
    };
  };
}[];
const [certManagerValues] = fileDocs(join(MESH, "helm/cert-manager-values.yaml")) as {
  approveSignerNames: string[];
}[];
const tmp = mkdtempSync(join(tmpdir(), "lanecar-mesh-identity-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("mesh identities from cert-manager (deploy/kubernetes/mesh-identity)", () => {
  it("every manifest is schema-valid (cert-manager, trust-manager and Kubernetes kinds)", async () => {
    expect(all.map((o) => `${String(o.kind)}/${String((o.metadata as Obj).name)}`)).toEqual([
      "Issuer/lanecar-mesh-selfsigned",
      "Certificate/lanecar-mesh-root",
      "ClusterIssuer/lanecar-mesh-ca",
      "Bundle/lanecar-mesh-root",
      "ClusterRole/lanecar-workload-identity",
      "RoleBinding/lanecar-workload-identity",
    ]);
    for (const o of all) await validateBuiltIn(o);
  });

  it("the root, the issuer and the bundle name the same Secret in cert-manager's namespace", () => {
    const root = find("Certificate", "lanecar-mesh-root");
    expect((root.metadata as Obj).namespace).toBe("cert-manager");
    expect(root.spec).toMatchObject({
      isCA: true,
      issuerRef: { name: "lanecar-mesh-selfsigned", kind: "Issuer" },
    });
    expect((find("Issuer", "lanecar-mesh-selfsigned").metadata as Obj).namespace).toBe("cert-manager");
    const secret = root.spec.secretName;
    expect(find("ClusterIssuer", "lanecar-mesh-ca").spec).toEqual({ ca: { secretName: secret } });
    // trust-manager reads Secrets in its trust namespace (cert-manager) and takes the root's ca.crt.
    const bundle = find("Bundle", "lanecar-mesh-root");
    expect(bundle.spec.sources).toEqual([{ secret: { name: secret, key: "ca.crt" } }]);
  });

  it("csi-driver-spiffe signs with that issuer, and only its approver approves for it", () => {
    const { app } = csiValues!;
    expect(app.issuer).toEqual({ name: "lanecar-mesh-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
    expect(app.approver.signerName).toBe(`clusterissuers.cert-manager.io/${app.issuer.name}`);
    // cert-manager's own approver would sign any SPIFFE ID a pod asks for: it must not cover the issuer.
    for (const name of certManagerValues!.approveSignerNames)
      expect(["clusterissuers.cert-manager.io/*", app.approver.signerName]).not.toContain(name);
    // The root's own (namespaced) issuer stays approved by cert-manager.
    expect(certManagerValues!.approveSignerNames).toContain("issuers.cert-manager.io/*");
    expect(app.trustDomain).toBe(DEFAULT_TRUST_DOMAIN);
  });

  it("the trust bundle reaches the driver: ConfigMap name, key and mount path agree", () => {
    const { driver } = csiValues!.app;
    const bundle = find("Bundle", "lanecar-mesh-root");
    const key = ((bundle.spec.target as Obj).configMap as Obj).key as string;
    expect(driver.volumes).toEqual([{ name: "lanecar-mesh-root", configMap: { name: "lanecar-mesh-root" } }]);
    const mount = driver.volumeMounts.find((m) => m.name === driver.volumes[0]!.name)!;
    expect(driver.sourceCABundle).toBe(`${mount.mountPath}/${key}`);
  });

  it("the volume's file names are the ones --identity-dir loads (the driver's defaults are not)", () => {
    const names = csiValues!.app.driver.volumeFileName;
    const ca = join(tmp, "ca");
    initCa(ca);
    const issued = join(tmp, "issued");
    issueWorkload(ca, issued, { namespace: "bookinfo", serviceAccount: "bookinfo-reviews", ttlMs: 3600_000 });
    expect(readdirSync(issued).sort()).toEqual([names.cert, names.key, names.ca].sort());
    expect(loadWorkloadCert(issued).spiffeId).toBe("spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews");
    // The same files under csi-driver-spiffe's default names: not an identity Lanecar reads.
    for (const [from, to] of [
      [names.cert, "tls.crt"],
      [names.key, "tls.key"],
      [names.ca, "ca.crt"],
    ] as const)
      renameSync(join(issued, from), join(issued, to));
    expect(() => loadWorkloadCert(issued)).toThrow(/cert\.pem: missing/);
  });

  it("the injected pod and the gateway mount that driver, readable by their group only", () => {
    const out = injectPod(
      { metadata: { labels: { app: "reviews" } }, spec: { containers: [{ name: "app", image: "app" }] } },
      INJECT_DEFAULTS,
    );
    if (!out.injected) throw new Error("not injected");
    const volume = (out.pod.spec!.volumes as JsonObject[]).find((v) => v.name === "lanecar-identity")!;
    expect((volume.csi as Obj).driver).toBe(SPIFFE_CSI_DRIVER);
    const gateway = yamlFiles(join(REPO, "deploy/kubernetes"))
      .flatMap(fileDocs)
      .find((o) => o.kind === "Deployment" && (o.metadata as Obj).name === "lanecar-gateway")!;
    const pod = (gateway.spec as { template: { spec: Obj } }).template.spec as {
      securityContext: { runAsGroup: number };
      serviceAccountName: string;
      volumes: Obj[];
      containers: { args: string[]; volumeMounts: Obj[]; env: Obj[] }[];
    };
    const gwVolume = pod.volumes.find((v) => (v.csi as Obj | undefined)?.driver === SPIFFE_CSI_DRIVER)!;
    expect(gwVolume.csi).toEqual(volume.csi);
    expect(String(pod.securityContext.runAsGroup)).toBe(
      ((volume.csi as Obj).volumeAttributes as Obj)["spiffe.csi.cert-manager.io/fs-group"],
    );
    const [c] = pod.containers;
    expect(c!.args[c!.args.indexOf("--identity-dir") + 1]).toBe(IDENTITY_DIR);
    expect(c!.volumeMounts).toContainEqual({ name: gwVolume.name, mountPath: IDENTITY_DIR, readOnly: true });
    // The gateway's account may ask for its certificate in its namespace.
    const binding = find("RoleBinding", "lanecar-workload-identity");
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: pod.serviceAccountName, namespace: "lanecar-system" },
    ]);
  });
});
