/**
 * What a connection to one endpoint of one cluster must be, decided once per (cluster, endpoint)
 * at config time: plaintext, ISTIO_MUTUAL (the workload identity; the peer must be the endpoint's
 * service account), or TLS origination to an external service (SIMPLE / MUTUAL with files or a
 * `credentialName`). Auto mTLS as Istio's `enableAutoMtls`: no `tls` at any DestinationRule level
 * and an endpoint labelled `security.istio.io/tlsMode: istio` → ISTIO_MUTUAL, when this workload
 * has an identity. Pools are keyed by the plan's `key`, so differently secured pools never mix.
 */
import { isIP } from "node:net";
import tls, { type PeerCertificate, type SecureContext } from "node:tls";
import type { ClientTlsSettings, Cluster, Endpoint } from "@lanecar/core";
import type { UpstreamTls } from "../h1/client.js";
import type { CredentialStore } from "../identity/credentials.js";
import type { MeshTls } from "../identity/mesh-tls.js";
import { formatSpiffeId, uriSans } from "../identity/spiffe.js";
import { OriginationMaterial } from "./tls-material.js";

/** The label Istio's injector puts on pods with a sidecar (the auto-mTLS signal). */
export const TLS_MODE_LABEL = "security.istio.io/tlsMode";

export interface TlsPlan {
  /** Pool key suffix: "" for plaintext. */
  readonly key: string;
  readonly mode: "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";
  /** What the pool's connections use; undefined = plaintext. */
  tls: UpstreamTls | undefined;
  /** Telemetry: this workload's SPIFFE ID and the peer's verified one under mutual TLS, else "". */
  readonly localPrincipal: string;
  peerPrincipal: string;
}

export const PLAINTEXT: TlsPlan = Object.freeze({
  key: "",
  mode: "DISABLE",
  tls: undefined,
  localPrincipal: "",
  peerPrincipal: "",
});

/** The namespace of the config object an endpoint came from (`Kind/ns/name`). */
function endpointNamespace(ep: Endpoint): string {
  return ep.origin.split("/")[1] ?? "";
}

/** Without an identity an ISTIO_MUTUAL pool fails closed: no certificate, no trusted root. */
let noIdentity: SecureContext | undefined;

export class TlsPlans {
  private readonly byEndpoint = new WeakMap<Endpoint, { cluster: Cluster | undefined; plan: TlsPlan }>();
  /** Resumable sessions of origination pools, by pool key (ISTIO_MUTUAL keeps its in MeshTls). */
  private readonly sessions = new Map<string, Buffer>();
  private readonly material = new Map<string, OriginationMaterial>();

  constructor(
    private readonly mesh: MeshTls | undefined,
    private readonly credentials: CredentialStore | undefined,
  ) {}

  /** The plan for `ep` as an endpoint of `cluster` (cached: endpoints belong to one cluster). */
  of(ep: Endpoint, cluster: Cluster | undefined): TlsPlan {
    const hit = this.byEndpoint.get(ep);
    if (hit !== undefined && hit.cluster === cluster) return hit.plan;
    const plan = this.decide(
      ep,
      cluster?.policy.tls,
      cluster?.host ?? ep.address,
      cluster?.service.subjectAltNames,
    );
    this.byEndpoint.set(ep, { cluster, plan });
    return plan;
  }

  /** ISTIO_MUTUAL to `ep` with any identity of the trust domain (tests, and the legacy boolean). */
  anyMeshPeer(ep: Endpoint): TlsPlan {
    return this.istioMutual(ep, undefined);
  }

  /** `serviceSans`: the ServiceEntry's `subjectAltNames` (ISTIO_MUTUAL peers without a service account). */
  decide(
    ep: Endpoint,
    s: ClientTlsSettings | undefined,
    host: string,
    serviceSans?: readonly string[],
  ): TlsPlan {
    if (s === undefined)
      return this.mesh && ep.labels[TLS_MODE_LABEL] === "istio"
        ? this.istioMutual(ep, undefined, serviceSans)
        : PLAINTEXT;
    if (s.mode === "DISABLE") return PLAINTEXT;
    if (s.mode === "ISTIO_MUTUAL") return this.istioMutual(ep, s, serviceSans);
    return this.originate(ep, s, host);
  }

  private istioMutual(
    ep: Endpoint,
    s: ClientTlsSettings | undefined,
    serviceSans?: readonly string[],
  ): TlsPlan {
    const mesh = this.mesh;
    // The peer must be the endpoint's workload; the DestinationRule's subjectAltNames override, as
    // in Istio; an endpoint without a service account may be any the ServiceEntry lists.
    const sans = s?.subjectAltNames ?? (ep.serviceAccount ? undefined : serviceSans);
    const expected =
      sans === undefined && ep.serviceAccount && mesh
        ? formatSpiffeId({
            trustDomain: mesh.trustDomain,
            namespace: endpointNamespace(ep),
            serviceAccount: ep.serviceAccount,
          })
        : undefined;
    const key = `#mtls|${expected ?? (sans ? `san=${sans.join(",")}` : "*")}|${s?.sni ?? ""}`;
    const plan: TlsPlan = {
      key,
      mode: "ISTIO_MUTUAL",
      tls: undefined,
      localPrincipal: mesh ? mesh.watcher.current.spiffeId : "",
      peerPrincipal: expected ?? "",
    };
    if (!mesh) {
      noIdentity ??= tls.createSecureContext({ ca: [] });
      const ctx = noIdentity;
      plan.tls = {
        context: () => ctx,
        checkPeer: () => new Error("ISTIO_MUTUAL needs a workload identity (--identity-dir)"),
        session: () => undefined,
        saveSession: () => {},
      };
      return plan;
    }
    const sessionKey = ep.key + key;
    // The peer check records whom it verified (telemetry's destination_principal).
    plan.tls = {
      context: () => mesh.context,
      // Only a configured SNI: peers are told apart by certificate, not by name.
      servername: sniFor(s?.sni, undefined),
      checkPeer: (h, cert) => {
        const err = mesh.checkPeer(h, cert);
        if (err) return err;
        const id = uriSans(cert.subjectaltname).find((u) => u.startsWith("spiffe://"))!;
        if (sans) {
          if (!sanMatches(cert, sans))
            return new Error(`peer "${id}" is not any of the subjectAltNames ${sans.join(", ")}`);
        } else if (expected !== undefined && id !== expected)
          return new Error(`peer "${id}" is not "${expected}" (the endpoint's service account)`);
        plan.peerPrincipal = id;
        return undefined;
      },
      session: () => mesh.sessions.get(sessionKey),
      saveSession: (b) => {
        mesh.sessions.set(sessionKey, b);
      },
    };
    return plan;
  }

  /** SIMPLE / MUTUAL to an external service with the DestinationRule's material. */
  private originate(ep: Endpoint, s: ClientTlsSettings, host: string): TlsPlan {
    const servername = sniFor(s.sni, host);
    const source = s.credentialName
      ? `cred=${s.credentialName}`
      : `files=${s.caCertificates ?? ""},${s.clientCertificate ?? ""},${s.privateKey ?? ""}`;
    const sans = s.subjectAltNames;
    const key = `#${s.mode}|${servername ?? ""}|${source}|${sans?.join(",") ?? ""}|${s.insecureSkipVerify ? "skip" : ""}`;
    let m = this.material.get(key);
    if (!m) {
      // New material: sessions made with the old one are not resumed.
      m = new OriginationMaterial(s, this.credentials, () => {
        for (const k of this.sessions.keys()) if (k.endsWith(key)) this.sessions.delete(k);
      });
      this.material.set(key, m);
    }
    const material = m;
    const sessionKey = ep.key + key;
    const skip = s.insecureSkipVerify === true;
    return {
      key,
      mode: s.mode,
      localPrincipal: "",
      peerPrincipal: "",
      tls: {
        context: () => material.context(),
        servername,
        rejectUnauthorized: !skip,
        checkPeer: skip
          ? () => undefined
          : sans
            ? (_h: string, cert: PeerCertificate) =>
                sanMatches(cert, sans)
                  ? undefined
                  : new Error(`server certificate names none of the subjectAltNames ${sans.join(", ")}`)
            : (_h: string, cert: PeerCertificate) => tls.checkServerIdentity(servername ?? host, cert),
        session: () => this.sessions.get(sessionKey),
        saveSession: (b) => {
          this.sessions.set(sessionKey, b);
        },
      },
    };
  }
}

/** The SNI to send: set, else the host (Istio's auto-SNI); never an IP address (RFC 6066). */
function sniFor(sni: string | undefined, host: string | undefined): string | undefined {
  const name = sni ?? host;
  return name && isIP(name) === 0 ? name : undefined;
}

/** Does the certificate name one of `sans` (DNS, URI or IP entries)? */
function sanMatches(cert: PeerCertificate, sans: readonly string[]): boolean {
  const names = (cert.subjectaltname ?? "").split(/,\s*/).map((p) => p.slice(p.indexOf(":") + 1));
  return sans.some((s) => names.includes(s));
}
