/**
 * TLS for the fallback data path's undici pools: a connector that opens the connection with the
 * pool's `UpstreamTls` (the same context, SNI, peer check and session as the codec's connections),
 * so a DestinationRule asking for TLS never goes out as plaintext on the fallback. Handshake
 * failures carry the codec's TLS_HANDSHAKE code and reason, so the exchange answers `503 UF` alike.
 */
import type { Socket } from "node:net";
import tls from "node:tls";
import { CONNECT_TIMEOUT, type PoolOptions, TLS_HANDSHAKE, UpstreamError } from "../h1/client.js";

type Callback = (err: Error | null, socket: Socket | null) => void;

export function tlsConnector(
  host: string,
  port: number,
  opts: PoolOptions,
): (o: unknown, cb: Callback) => void {
  const t = opts.tls!;
  return (_o, cb) => {
    let secureContext: tls.SecureContext;
    try {
      secureContext = t.context();
    } catch (err) {
      cb(new UpstreamError(TLS_HANDSHAKE, `TLS_error: ${(err as Error).message}`), null);
      return;
    }
    const s = tls.connect({
      host,
      port,
      lookup: opts.lookup,
      secureContext,
      servername: t.servername,
      rejectUnauthorized: t.rejectUnauthorized !== false,
      checkServerIdentity: t.checkPeer,
      session: t.session(),
    });
    s.setNoDelay(true);
    s.on("session", t.saveSession);
    let tcpUp = false;
    s.once("connect", () => {
      tcpUp = true;
    });
    const timer = setTimeout(
      () =>
        s.destroy(new UpstreamError(CONNECT_TIMEOUT, `connect timeout after ${opts.connectTimeoutMs} ms`)),
      opts.connectTimeoutMs,
    );
    const onError = (e: Error & { code?: string }) => {
      clearTimeout(timer);
      // Before TCP is up it is a connect failure (refused, unreachable); after, the handshake's.
      cb(
        tcpUp && e.code !== CONNECT_TIMEOUT
          ? new UpstreamError(TLS_HANDSHAKE, `TLS_error: ${e.code ? `${e.code} ` : ""}${e.message}`)
          : e,
        null,
      );
    };
    s.once("error", onError);
    s.once("secureConnect", () => {
      clearTimeout(timer);
      s.off("error", onError);
      cb(null, s);
    });
  };
}
