/**
 * TLS at the edge: the gateway's HTTPS listener. Each accepted connection's ClientHello is read
 * first; its SNI picks one of the Gateway's HTTPS servers by host (exact, then the longest
 * `*.suffix`, then `*` — which also takes clients that send no SNI), and only then the handshake
 * starts with that server's certificate and, for MUTUAL, its client-certificate requirement.
 * No server for the name, or no usable certificate: the connection is closed before any
 * handshake (Envoy: no filter chain match). The servers follow config reloads; certificates
 * follow their files (server-credential.ts).
 */
import type { Socket } from "node:net";
import type tls from "node:tls";
import { type ConfigSnapshot, type GatewayServer, HostIndex } from "@lanecar/core";
import type { SocketGate } from "../h1/server.js";
import type { CredentialStore } from "../identity/credentials.js";
import { uriSans } from "../identity/spiffe.js";
import { INCOMPLETE, MAX_CLIENT_HELLO, NOT_TLS, parseClientHello } from "./client-hello.js";
import { type CredentialStatus, ServerCredential, unknownCiphers } from "./server-credential.js";

/** One HTTPS server of the Gateway as the listener serves it. */
interface TlsServer {
  label: string;
  server: GatewayServer;
  credential: ServerCredential;
}

interface Table {
  bySni: HostIndex<TlsServer>;
  servers: TlsServer[];
}

export interface EdgeTlsStatus extends CredentialStatus {
  server: string;
  port: number;
  hosts: string[];
  mode: string;
}

/** The Gateway's HTTPS servers (`port.protocol: HTTPS` with `tls`); none when it has none. */
export function httpsServers(snap: ConfigSnapshot, context: string): GatewayServer[] {
  const gw = snap.gateway(context);
  return gw ? gw.spec.servers.filter((s) => s.port.protocol === "HTTPS" && s.tls?.mode) : [];
}

/** A Gateway host (`ns/host`, `host`, `*`) as an SNI pattern. */
export function hostPattern(h: string): string {
  const slash = h.indexOf("/");
  return (slash >= 0 ? h.slice(slash + 1) : h).toLowerCase();
}

export class EdgeTls {
  /** By the snapshot's resources: an endpoint-only swap (discovery) keeps the table. */
  private readonly tables = new WeakMap<readonly unknown[], Table>();
  private readonly warned = new Set<string>();
  private take: ((s: Socket) => void) | undefined;
  /** The server each accepted connection's handshake chose. */
  private readonly bySocket = new WeakMap<Socket, ServerCredential>();
  /** Credentials by what they are (source and settings), kept across reloads for last-good. */
  private readonly credentials = new Map<string, ServerCredential>();
  private readonly counts = {
    handshakes: 0,
    noServer: 0,
    notTls: 0,
    noCertificate: 0,
    failed: 0,
    sanRejected: 0,
  };

  constructor(
    private readonly current: () => ConfigSnapshot,
    private readonly context: string,
    private readonly store: CredentialStore | undefined,
    private readonly warn: (message: string) => void,
    /** A handshake must be done within this (the listener's header deadline). */
    private readonly handshakeTimeoutMs = 10_000,
  ) {}

  /** Builds (and checks, warning about each unusable server) the table of a snapshot. */
  table(snap: ConfigSnapshot = this.current()): Table {
    let t = this.tables.get(snap.resources);
    if (t) return t;
    t = { bySni: new HostIndex<TlsServer>(), servers: [] };
    const gw = snap.gateway(this.context);
    gw?.spec.servers.forEach((server, i) => {
      if (server.port.protocol !== "HTTPS" || !server.tls?.mode) return;
      const label = `Gateway ${this.context} server ${server.name ?? server.port.name ?? i} (port ${server.port.number}, hosts ${server.hosts.join(",")})`;
      // One handshake server per Gateway server (its hosts scope the requests on its connections).
      const key = JSON.stringify([server.port.number, server.hosts, server.tls]);
      let credential = this.credentials.get(key);
      if (!credential) {
        const hosts = new HostIndex<true>();
        for (const h of server.hosts) hosts.set(hostPattern(h), true);
        credential = new ServerCredential(label, server.tls, this.store, this.initServer, hosts);
        credential.onError = (m) => this.warn(`${m}; connections for its hosts are refused`);
        this.credentials.set(key, credential);
      }
      const bad = unknownCiphers(server.tls.cipherSuites);
      if (bad.length > 0)
        this.warnOnce(`${label}: cipher suites not known to OpenSSL, left out: ${bad.join(", ")}`);
      credential.server(this.handshakeTimeoutMs); // warns now (at load) when it cannot be used
      const entry: TlsServer = { label, server, credential };
      t!.servers.push(entry);
      for (const h of server.hosts) t!.bySni.set(hostPattern(h), entry);
    });
    this.tables.set(snap.resources, t);
    return t;
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.warn(message);
  }

  /** The server a ClientHello's name selects (undefined: none; the connection is refused). */
  select(serverName: string | undefined): TlsServer | undefined {
    const idx = this.table().bySni;
    // Without SNI only a `*` server can be chosen (a name matches no pattern but `*`).
    return idx.get(serverName ?? "");
  }

  /** H1Server's gate: reads the ClientHello, picks the server, and hands it the socket. */
  readonly accept: SocketGate = (socket: Socket, take: (s: Socket) => void, timeoutMs: number) => {
    this.take = take; // the listener's own hand-off: the same function for every connection
    // The ClientHello must come within the header deadline, as a plaintext request's headers.
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    let buf: Buffer | undefined;
    const onData = (chunk: Buffer) => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      const hello = parseClientHello(buf);
      if (hello === INCOMPLETE && buf.length <= MAX_CLIENT_HELLO) return;
      socket.off("data", onData);
      socket.pause();
      clearTimeout(timer);
      if (hello === INCOMPLETE || hello === NOT_TLS) return this.refuse(socket, "notTls");
      const chosen = this.select(hello.serverName);
      if (!chosen) return this.refuse(socket, "noServer");
      const srv = chosen.credential.server(this.handshakeTimeoutMs);
      if (!srv) return this.refuse(socket, "noCertificate");
      this.counts.handshakes++;
      socket.off("error", onError);
      socket.unshift(buf);
      srv.emit("connection", socket);
    };
    const onError = () => clearTimeout(timer);
    socket.on("data", onData);
    socket.on("error", onError);
  };

  /**
   * Whether a request on `socket` may name `host`: only the hosts of the server its handshake
   * chose (Istio gives each HTTPS server its own routes), so a connection made with one server's
   * name — e.g. without the client certificate another server requires — cannot reach another's.
   */
  admits(socket: Socket, host: string): boolean {
    return this.bySocket.get(socket)?.hosts.get(host) === true;
  }

  /** Wires a server's handshake server: verified connections go to the codec. */
  private readonly initServer = (srv: tls.Server, cred: ServerCredential): void => {
    const mutual = cred.settings.mode === "MUTUAL";
    const sans = cred.settings.subjectAltNames;
    srv.on("secureConnection", (t: tls.TLSSocket) => {
      if (mutual && sans.length > 0 && !sanMatches(t.getPeerCertificate(), sans)) {
        this.counts.sanRejected++;
        t.destroy();
        return;
      }
      this.bySocket.set(t, cred);
      this.take?.(t);
    });
    srv.on("tlsClientError", (_err, t: tls.TLSSocket) => {
      this.counts.failed++;
      t.destroy();
    });
  };

  private refuse(socket: Socket, why: keyof EdgeTls["counts"]): void {
    this.counts[why]++;
    socket.destroy();
  }

  /** Each HTTPS server with its certificate's fingerprint and validTo, or why it is not served. */
  status(): { servers: EdgeTlsStatus[]; connections: Record<string, number> } {
    return {
      servers: this.table().servers.map((s) => ({
        server: s.label,
        port: s.server.port.number,
        hosts: s.server.hosts,
        mode: s.server.tls!.mode!,
        ...s.credential.status(),
      })),
      connections: { ...this.counts },
    };
  }
}

/** A client certificate's SANs (DNS, URI, IP, email) include one of `wanted` exactly (Envoy's match). */
function sanMatches(cert: tls.PeerCertificate, wanted: readonly string[]): boolean {
  const alt = cert.subjectaltname ?? "";
  const values = new Set<string>(uriSans(alt));
  for (const part of alt.split(", ")) {
    const colon = part.indexOf(":");
    if (colon > 0) values.add(part.slice(colon + 1));
  }
  return wanted.some((w) => values.has(w));
}
