/**
 * Mutual TLS between sidecars with the workload identity (`--identity-dir`): the secure context
 * both directions use (rebuilt when the files rotate; new connections get it, open ones keep
 * theirs), the inbound gate that tells TLS from plaintext on one port by the first byte, and the
 * SPIFFE check an outbound connection makes of its peer (same trust domain, else rejected).
 */
import type { Socket } from "node:net";
import tls, { type PeerCertificate, type SecureContext } from "node:tls";
import { type HandshakeStatus, InboundHandshakes } from "./inbound-handshake.js";
import { DEFAULT_TRUST_DOMAIN, formatSpiffeId, parseSpiffeId, uriSans } from "./spiffe.js";
import { type IdentityStatus, IdentityWatcher, type WorkloadCert } from "./workload-identity.js";

/** A sidecar's inbound mutual-TLS mode (PeerAuthentication's modes). */
export type InboundMtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";

export interface MeshTlsOptions {
  identityDir: string;
  trustDomain?: string;
  mode?: InboundMtlsMode;
  pollMs?: number;
  /** `--namespace` + `--service-account`: the certificate must name exactly this identity. */
  namespace?: string;
  serviceAccount?: string;
  /** Rotations (info) and refused rotations (error, once per reason). */
  log?: { info(msg: string): void; error(msg: string): void };
}

/** The first byte of a TLS record carrying a handshake (RFC 8446 §5.1: ContentType 22). */
const TLS_HANDSHAKE = 0x16;

export class MeshTls {
  readonly watcher: IdentityWatcher;
  readonly trustDomain: string;
  /** `--mtls-mode`: the inbound mode when no PeerAuthentication applies. */
  readonly mode: InboundMtlsMode;
  /**
   * The inbound mode for the next connection. The sidecar's inbound listener points it at the
   * PeerAuthentication of the current config (inbound/inbound-security.ts); by default the flag.
   */
  inboundMode: () => InboundMtlsMode = () => this.mode;
  /** Current context; replaced (never mutated) on rotation. */
  context: SecureContext;
  /** Outbound TLS sessions per endpoint (resumption); dropped on rotation. */
  readonly sessions = new Map<string, Buffer>();
  private accepted = { tls: 0, plaintext: 0, refused: 0 };
  /** The inbound handshakes: client certificates verified, refusals counted. */
  private readonly handshakes: InboundHandshakes;

  /** Throws IdentityError (one line) when the files are not a valid identity. */
  constructor(o: MeshTlsOptions) {
    this.trustDomain = o.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.mode = o.mode ?? "PERMISSIVE";
    // Checked at start (one-line error) and on every rotation (refused, the last good one kept).
    const want =
      o.serviceAccount !== undefined
        ? formatSpiffeId({
            trustDomain: this.trustDomain,
            namespace: o.namespace ?? "default",
            serviceAccount: o.serviceAccount,
          })
        : undefined;
    const accept = (c: WorkloadCert): string | undefined => {
      if (c.identity.trustDomain !== this.trustDomain)
        return `names trust domain "${c.identity.trustDomain}", not --trust-domain "${this.trustDomain}"`;
      if (want && c.spiffeId !== want)
        return `names ${c.spiffeId}, not ${want} (--namespace, --service-account)`;
      return undefined;
    };
    const log = o.log;
    this.watcher = new IdentityWatcher(o.identityDir, (c) => this.rotate(c), o.pollMs, {
      accept,
      warn: log && ((m) => log.error(m)),
      info: log && ((m) => log.info(m)),
    });
    this.context = contextOf(this.watcher.current);
    this.handshakes = new InboundHandshakes(this.trustDomain, this.watcher.current);
    this.watcher.start();
  }

  private rotate(c: WorkloadCert): void {
    this.context = contextOf(c);
    this.handshakes.setIdentity(c);
    this.sessions.clear();
  }

  stop(): void {
    this.watcher.stop();
  }

  /**
   * The inbound gate (H1Server's `gate`): waits for the first byte, then hands `take` the socket
   * itself (plaintext) or a server TLSSocket over it (a handshake), as the mode allows.
   */
  readonly accept = (socket: Socket, take: (s: Socket) => void, timeoutMs: number): void => {
    // Decided per connection: a config change applies to new connections, open ones keep theirs.
    const mode = this.inboundMode();
    if (mode === "DISABLE") {
      this.accepted.plaintext++;
      take(socket);
      return;
    }
    // A client that never sends a byte is closed at the header deadline, as on the codec.
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.once("error", noop);
    socket.once("data", (first: Buffer) => {
      socket.pause();
      socket.setTimeout(0);
      socket.off("error", noop);
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) {
        this.accepted.tls++;
        this.handshakes.accept(socket, take, timeoutMs);
      } else if (mode === "STRICT") {
        this.accepted.refused++;
        socket.destroy();
      } else {
        this.accepted.plaintext++;
        take(socket);
        socket.resume();
      }
    });
  };

  /** `checkServerIdentity` for outbound: the peer must present a SPIFFE ID of our trust domain. */
  readonly checkPeer = (_host: string, cert: PeerCertificate): Error | undefined => {
    const ids = uriSans(cert.subjectaltname).filter((u) => u.startsWith("spiffe://"));
    if (ids.length !== 1) return new Error(`peer presents ${ids.length} SPIFFE IDs, want exactly one`);
    const id = parseSpiffeId(ids[0]!);
    if (!id) return new Error(`peer SPIFFE ID "${ids[0]}" is not an Istio workload ID`);
    if (id.trustDomain !== this.trustDomain)
      return new Error(`peer SPIFFE ID "${ids[0]}" is not in trust domain "${this.trustDomain}"`);
    return undefined;
  };

  status(): IdentityStatus & {
    trustDomain: string;
    inboundMode: InboundMtlsMode;
    accepted: object;
    handshakes: HandshakeStatus;
  } {
    return {
      ...this.watcher.status(),
      trustDomain: this.trustDomain,
      inboundMode: this.inboundMode(),
      accepted: { ...this.accepted },
      handshakes: this.handshakes.status(),
    };
  }
}

function noop(): void {}

function contextOf(c: WorkloadCert): SecureContext {
  return tls.createSecureContext({ cert: c.certPem, key: c.keyPem, ca: c.rootPem, minVersion: "TLSv1.2" });
}
