/**
 * What a gateway listener answers before routing, once the Gateway has TLS in it: each listener
 * serves the hosts of its own servers only (the HTTP listener the HTTP servers', the HTTPS
 * listener the HTTPS servers'; any other host is 404 `NR`, so a host configured for HTTPS only
 * is never served in plaintext), and an HTTP server with `tls.httpsRedirect: true` answers every
 * request `301` to `https://<Host><path>` — Envoy's `require_tls: ALL`, whose Location keeps the
 * Host header as sent. A Gateway without HTTPS servers or redirects is left exactly as it was.
 */
import { type ConfigSnapshot, type GatewayServer, HostIndex, splitAuthority } from "@lanecar/core";
import { hostPattern } from "../edge-tls/edge-tls.js";
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
    const server = t.get(splitAuthority(authority).host);
    if (!server) {
      sendLocalReply(req, 404, "NR", LOCAL_REPLIES.NR.body);
      return;
    }
    if (this.listener === "http" && server.tls?.httpsRedirect) {
      req.writeHead(301, undefined, ["location", `https://${authority}${path}`, "content-length", "0"]);
      req.end();
      return;
    }
    this.next(req);
  };
}
