/**
 * What a gateway listener answers before routing, once the Gateway has TLS in it: each listener
 * serves the hosts of its own servers only (the HTTP listener the HTTP servers'; on the HTTPS
 * listener, the hosts of the one server the connection's SNI chose; any other host is 404 `NR`, so
 * a host configured for HTTPS only is never served in plaintext, and a MUTUAL server's hosts never
 * through another server's handshake), and an HTTP server with `tls.httpsRedirect: true` answers every
 * request `301` to `https://<Host><path>` — Envoy's `require_tls: ALL`, whose Location keeps the
 * Host header as sent. A Gateway without HTTPS servers or redirects is left exactly as it was.
 */
import { type ConfigSnapshot, type GatewayServer, HostIndex, splitAuthority } from "@lanecar/core";
import { type EdgeTls, hostPattern } from "../edge-tls/edge-tls.js";
import { ServerStream } from "../h1/stream.js";
import type { DownstreamHandler, DownstreamStream } from "../http/downstream.js";
import { LOCAL_REPLIES, sendLocalReply } from "../http/local-reply.js";
import { rawHeader } from "../http/raw-headers.js";
import type { ProxyRuntime } from "../runtime.js";

export type EdgeListener = "http" | "https";

/** null: the Gateway has no TLS at all; the listener passes every request on. */
type Table = HostIndex<GatewayServer> | null;

export class EdgeHosts {
  private readonly tables = new WeakMap<readonly unknown[], Table>();

  constructor(
    private readonly rt: ProxyRuntime,
    private readonly context: string,
    private readonly listener: EdgeListener,
    private readonly next: DownstreamHandler,
    /** The HTTPS listener's TLS: which server each connection's handshake chose. */
    private readonly edge?: EdgeTls,
  ) {}

  private table(snap: ConfigSnapshot): Table {
    let t = this.tables.get(snap.resources);
    if (t === undefined) {
      const servers = snap.gateway(this.context)?.spec.servers ?? [];
      const https = (s: GatewayServer) => s.port.protocol === "HTTPS";
      const tlsInUse = servers.some((s) => https(s) || s.tls?.httpsRedirect);
      t = null;
      if (tlsInUse) {
        const index = new HostIndex<GatewayServer>();
        for (const s of servers)
          if (https(s) === (this.listener === "https")) for (const h of s.hosts) index.set(hostPattern(h), s);
        t = index;
      }
      this.tables.set(snap.resources, t);
    }
    return t;
  }

  readonly handle = (req: DownstreamStream): void => {
    const t = this.table(this.rt.config.current);
    if (t === null) return this.next(req);
    let authority: string | undefined;
    let path = req.url;
    if (path.charCodeAt(0) !== 47 /* / */ && path.startsWith("http://")) {
      const slash = path.indexOf("/", 7);
      authority = slash < 0 ? path.slice(7) : path.slice(7, slash);
      path = slash < 0 ? "/" : path.slice(slash);
    } else authority = rawHeader(req.rawHeaders, "host");
    // No Host: the routed listener answers it (400) as before.
    if (authority === undefined) return this.next(req);
    const host = splitAuthority(authority).host;
    const server = t.get(host);
    // On HTTPS, the hosts of the server the connection's handshake chose (by SNI), no other's.
    const admitted = this.edge
      ? req instanceof ServerStream && this.edge.admits(req.conn.socket, host)
      : server !== undefined;
    if (!admitted) {
      sendLocalReply(req, 404, "NR", LOCAL_REPLIES.NR.body);
      return;
    }
    if (this.listener === "http" && server?.tls?.httpsRedirect) {
      req.writeHead(301, undefined, ["location", `https://${authority}${path}`, "content-length", "0"]);
      req.end();
      return;
    }
    this.next(req);
  };
}
