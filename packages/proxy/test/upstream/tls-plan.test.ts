/**
 * How a connection to an endpoint is secured (upstream/tls-plan.ts), as a table: auto mTLS by the
 * endpoint's `security.istio.io/tlsMode` label when no DestinationRule level sets `tls` and the
 * workload has an identity; explicit modes win; the ISTIO_MUTUAL peer expected from the endpoint's
 * service account and namespace; pools keyed apart by everything that changes the connection.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import type { ClientTlsSettings, Endpoint } from "@lanecar/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCa, issueWorkload } from "../../src/identity/index.js";
import { MeshTls } from "../../src/identity/mesh-tls.js";
import { TLS_MODE_LABEL, TlsPlans } from "../../src/upstream/tls-plan.js";

let mesh: MeshTls;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-tls-plan-"));
  initCa(join(dir, "ca"));
  issueWorkload(join(dir, "ca"), join(dir, "me"), {
    namespace: "default",
    serviceAccount: "productpage",
    ttlMs: 3600_000,
  });
  mesh = new MeshTls({ identityDir: join(dir, "me"), pollMs: 60_000 });
});
afterAll(() => mesh?.stop());

function ep(
  labels: Record<string, string> = {},
  serviceAccount?: string,
  origin = "WorkloadEntry/bookinfo/r1",
): Endpoint {
  return {
    key: "10.0.0.1:9080",
    address: "10.0.0.1",
    port: 9080,
    labels,
    weight: 1,
    probe: undefined,
    origin,
    serviceAccount,
  };
}

const ISTIO = { [TLS_MODE_LABEL]: "istio" };

describe("TLS plan per endpoint", () => {
  const cases: [string, boolean, Endpoint, ClientTlsSettings | undefined, string][] = [
    [
      "no tls, endpoint labelled tlsMode=istio, identity → auto mTLS",
      true,
      ep(ISTIO),
      undefined,
      "ISTIO_MUTUAL",
    ],
    ["no tls, unlabelled endpoint → plaintext", true, ep(), undefined, "DISABLE"],
    ["no tls, labelled, but no identity → plaintext", false, ep(ISTIO), undefined, "DISABLE"],
    [
      "tlsMode other than istio → plaintext",
      true,
      ep({ [TLS_MODE_LABEL]: "disabled" }),
      undefined,
      "DISABLE",
    ],
    ["explicit DISABLE beats the label", true, ep(ISTIO), { mode: "DISABLE" }, "DISABLE"],
    ["explicit ISTIO_MUTUAL on an unlabelled endpoint", true, ep(), { mode: "ISTIO_MUTUAL" }, "ISTIO_MUTUAL"],
    [
      "ISTIO_MUTUAL without identity stays TLS (fails closed)",
      false,
      ep(),
      { mode: "ISTIO_MUTUAL" },
      "ISTIO_MUTUAL",
    ],
    ["SIMPLE", true, ep(ISTIO), { mode: "SIMPLE" }, "SIMPLE"],
    ["MUTUAL", false, ep(), { mode: "MUTUAL", credentialName: "c" }, "MUTUAL"],
  ];
  for (const [name, identity, endpoint, tls, want] of cases) {
    it(name, () => {
      const plans = new TlsPlans(identity ? mesh : undefined, undefined);
      const plan = plans.decide(endpoint, tls, "reviews.bookinfo.svc.cluster.local");
      expect(plan.mode).toBe(want);
      expect(plan.tls === undefined).toBe(want === "DISABLE");
    });
  }

  it("ISTIO_MUTUAL expects the endpoint's service account in the endpoint's namespace", () => {
    const plans = new TlsPlans(mesh, undefined);
    const plan = plans.decide(ep(ISTIO, "reviews"), undefined, "reviews");
    const want = "spiffe://cluster.local/ns/bookinfo/sa/reviews";
    expect(plan.peerPrincipal).toBe(want);
    expect(plan.localPrincipal).toBe("spiffe://cluster.local/ns/default/sa/productpage");
    const cert = (id: string) => ({ subjectaltname: `URI:${id}` }) as PeerCertificate;
    expect(plan.tls!.checkPeer("x", cert(want))).toBeUndefined();
    expect(plan.tls!.checkPeer("x", cert("spiffe://cluster.local/ns/bookinfo/sa/ratings"))?.message).toBe(
      `peer "spiffe://cluster.local/ns/bookinfo/sa/ratings" is not "${want}" (the endpoint's service account)`,
    );
    // subjectAltNames replace the service-account check.
    const sans = plans.decide(
      ep({}, "reviews"),
      { mode: "ISTIO_MUTUAL", subjectAltNames: [want.replace("reviews", "x")] },
      "h",
    );
    expect(sans.tls!.checkPeer("x", cert(want))?.message).toContain("is not any of the subjectAltNames");
    // Without a service account: one the ServiceEntry's subjectAltNames list, if it has any.
    const listed = plans.decide(ep(ISTIO), undefined, "h", [want]);
    expect(listed.tls!.checkPeer("x", cert(want))).toBeUndefined();
    expect(listed.tls!.checkPeer("x", cert("spiffe://cluster.local/ns/a/sa/b"))?.message).toContain(
      "is not any of the subjectAltNames",
    );
    // The endpoint's own service account comes first.
    expect(plans.decide(ep(ISTIO, "ratings"), undefined, "h", [want]).peerPrincipal).toBe(
      "spiffe://cluster.local/ns/bookinfo/sa/ratings",
    );
    // Else any identity of the trust domain, recorded once verified.
    const any = plans.decide(ep(ISTIO), undefined, "h");
    expect(any.peerPrincipal).toBe("");
    expect(any.tls!.checkPeer("x", cert("spiffe://cluster.local/ns/a/sa/b"))).toBeUndefined();
    expect(any.peerPrincipal).toBe("spiffe://cluster.local/ns/a/sa/b");
  });

  it("pool keys differ by what changes the connection; SNI defaults to the host, never an IP", () => {
    const plans = new TlsPlans(mesh, undefined);
    const key = (s: ClientTlsSettings | undefined, e = ep(), host = "db.example.com") =>
      plans.decide(e, s, host).key;
    const keys = [
      key(undefined),
      key({ mode: "ISTIO_MUTUAL" }),
      key({ mode: "ISTIO_MUTUAL" }, ep({}, "reviews")),
      key({ mode: "SIMPLE" }),
      key({ mode: "SIMPLE", sni: "other" }),
      key({ mode: "SIMPLE", caCertificates: "/ca.pem" }),
      key({ mode: "SIMPLE", insecureSkipVerify: true }),
      key({ mode: "SIMPLE", subjectAltNames: ["a"] }),
      key({ mode: "MUTUAL", credentialName: "c" }),
      key({ mode: "MUTUAL", credentialName: "d" }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(plans.decide(ep(), { mode: "SIMPLE" }, "db.example.com").tls!.servername).toBe("db.example.com");
    expect(plans.decide(ep(), { mode: "SIMPLE" }, "10.0.0.1").tls!.servername).toBeUndefined();
    expect(plans.decide(ep(), { mode: "SIMPLE", sni: "x.example" }, "h").tls!.servername).toBe("x.example");
  });
});
