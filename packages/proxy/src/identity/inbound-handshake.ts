/**
 * The server side of an inbound mutual-TLS handshake, and its refusals. A socket the inbound gate
 * recognised as TLS is handed to a `tls.Server` that never listens (`emit("connection")`): only
 * on that path does Node check the client certificate against the trust bundle and refuse it
 * (expired, not yet valid, self-signed, another CA) — a bare server `TLSSocket` completes the
 * handshake whatever the client presents, and a client without a certificate gets OpenSSL's
 * `certificate required` alert. A verified peer must then name a SPIFFE ID of our trust domain
 * (a bundle may hold another domain's root). Only a peer that passed both reaches the codec,
 * before any application byte is read; every refusal is counted by reason for `/config_dump`.
 */
import type { Socket } from "node:net";
import tls from "node:tls";
import { parseSpiffeId, uriSans } from "./spiffe.js";
import type { WorkloadCert } from "./workload-identity.js";

/** What `/config_dump` shows of inbound handshakes (never a certificate or key). */
export interface HandshakeStatus {
  completed: number;
  refused: number;
  /** Refusals by reason: Node/OpenSSL codes (`CERT_HAS_EXPIRED`, ...) or `SPIFFE_*`. */
  reasons: Record<string, number>;
  /** The latest refusal: time, reason and the client's address. */
  last: string | null;
}

type Take = (s: Socket) => void;

export class InboundHandshakes {
  private readonly servers = new Map<Take, tls.Server>();
  private identity: WorkloadCert;
  private completed = 0;
  private refused = 0;
  private readonly reasons: Record<string, number> = {};
  private last: string | null = null;

  constructor(
    private readonly trustDomain: string,
    identity: WorkloadCert,
  ) {
    this.identity = identity;
  }

  /** Runs the handshake on `socket` (its first bytes unshifted); `take` gets verified peers only. */
  accept(socket: Socket, take: Take, timeoutMs: number): void {
    let server = this.servers.get(take);
    if (!server) {
      server = this.serverFor(take, timeoutMs);
      this.servers.set(take, server);
    }
    server.emit("connection", socket);
  }

  /** A rotated identity: new handshakes present it and trust its bundle; open connections keep theirs. */
  setIdentity(c: WorkloadCert): void {
    this.identity = c;
    for (const s of this.servers.values()) s.setSecureContext(options(c));
  }

  status(): HandshakeStatus {
    return {
      completed: this.completed,
      refused: this.refused,
      reasons: { ...this.reasons },
      last: this.last,
    };
  }

  /** One server per listener (`take`): per-server events, no closure per connection. */
  private serverFor(take: Take, timeoutMs: number): tls.Server {
    const server = tls.createServer({
      ...options(this.identity),
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: timeoutMs,
    });
    server.on("secureConnection", (t: tls.TLSSocket) => {
      const why = this.checkPeer(t);
      if (why) {
        this.refuse(why, t);
        t.destroy();
        return;
      }
      this.completed++;
      take(t);
    });
    // Handshake failures: Node's verification result when it refused the certificate, else
    // the error (no certificate, a protocol error, the client refusing ours, the timeout).
    // Node leaves closing to the listener (a timed-out handshake would stay open otherwise).
    server.on("tlsClientError", (err: NodeJS.ErrnoException, t: tls.TLSSocket) => {
      this.refuse(String(t.authorizationError ?? err.code ?? err.message), t);
      t.destroy();
    });
    return server;
  }

  /** The verified peer's SPIFFE ID must be exactly one Istio-shaped ID in our trust domain. */
  private checkPeer(t: tls.TLSSocket): string | undefined {
    const ids = uriSans(t.getPeerCertificate().subjectaltname).filter((u) => u.startsWith("spiffe://"));
    if (ids.length !== 1) return "SPIFFE_ID_MISSING";
    const id = parseSpiffeId(ids[0]!);
    if (!id) return "SPIFFE_ID_INVALID";
    if (id.trustDomain !== this.trustDomain) return "SPIFFE_TRUST_DOMAIN";
    return undefined;
  }

  private refuse(reason: string, t: tls.TLSSocket): void {
    this.refused++;
    this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
    this.last = `${new Date().toISOString()} ${reason} from ${t.remoteAddress ?? "?"}:${t.remotePort ?? "?"}`;
  }
}

function options(c: WorkloadCert): tls.SecureContextOptions {
  return { cert: c.certPem, key: c.keyPem, ca: c.rootPem, minVersion: "TLSv1.2" };
}
