/**
 * The codec's TLS connections (upstream-connection.ts) at the byte level: the SNI a pool's
 * `UpstreamTls.servername` puts in the ClientHello (and none without one), a context that cannot
 * be built fails the attempt as a TLS failure before a single byte is sent, and
 * `rejectUnauthorized: false` (DestinationRule `insecureSkipVerify`) talks to an untrusted server
 * the default refuses.
 */
import { mkdtempSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import {
  type PoolOptions,
  type ResponseHandler,
  TLS_HANDSHAKE,
  UpstreamPool,
  type UpstreamTls,
} from "../../src/h1/client.js";
import { initCa, issueWorkload, loadWorkloadCert } from "../../src/identity/index.js";
import { cleanup, onCleanup, rawUpstream, waitFor } from "./helpers.js";

afterEach(cleanup);

const OPTS: PoolOptions = {
  connections: 1,
  connectTimeoutMs: 400,
  idleTimeoutMs: 10_000,
  maxRequestsPerConnection: 0,
  maxHeaderSize: 16 * 1024,
};

function upstreamTls(over: Partial<UpstreamTls> = {}): UpstreamTls {
  const ctx = tls.createSecureContext({});
  return {
    context: () => ctx,
    checkPeer: () => undefined,
    session: () => undefined,
    saveSession: () => {},
    ...over,
  };
}

/** One GET on a new pool; resolves with the status, or the error's code and message. */
function get(port: number, t: UpstreamTls): Promise<string> {
  const pool = new UpstreamPool("127.0.0.1", port, { ...OPTS, tls: t });
  onCleanup(() => pool.destroy());
  return new Promise((resolve) => {
    let status = 0;
    const h: ResponseHandler = {
      onConnect: () => {},
      onHeaders: (s) => {
        status = s;
        return true;
      },
      onData: () => true,
      onComplete: () => resolve(String(status)),
      onError: (e) => resolve(`${e.code}: ${e.message}`),
    };
    pool.dispatch(
      {
        method: "GET",
        path: "/x",
        headers: ["host", "h"],
        body: null,
        headersTimeoutMs: 5000,
        bodyTimeoutMs: 5000,
      },
      h,
    );
  });
}

/** The server_name extension (type 0) of a ClientHello, as bytes: list length, type 0, name length, name. */
function sniExtension(name: string): Buffer {
  const n = Buffer.from(name, "latin1");
  const entry = Buffer.concat([Buffer.from([0, n.length >> 8, n.length & 0xff]), n]);
  return Buffer.concat([Buffer.from([0, 0, 0, entry.length + 2, 0, entry.length]), entry]);
}

describe("upstream TLS connections", () => {
  it("the ClientHello carries servername as SNI; without one, no server_name extension", async () => {
    const up = await rawUpstream(() => {});
    const withSni = get(up.port, upstreamTls({ servername: "db.example.com" }));
    await waitFor(() => (up.received[0]?.length ?? 0) > 0, "a ClientHello");
    const hello = Buffer.from(up.received[0]!, "latin1");
    expect([hello[0], hello[1]]).toEqual([0x16, 0x03]);
    expect(hello.includes(sniExtension("db.example.com"))).toBe(true);
    up.sockets[0]!.destroy();
    // The peer hung up in the handshake: a TLS failure (503 UF on a route), not a reset.
    expect(await withSni).toMatch(
      new RegExp(
        `^${TLS_HANDSHAKE}: TLS_error: (ECONNRESET |the peer closed the connection in the handshake)`,
      ),
    );

    const without = get(up.port, upstreamTls());
    await waitFor(() => (up.received[1]?.length ?? 0) > 0, "a second ClientHello");
    const bare = Buffer.from(up.received[1]!, "latin1");
    expect(bare[0]).toBe(0x16);
    expect(bare.includes(Buffer.from("db.example.com"))).toBe(false);
    up.sockets[1]!.destroy();
    await without;
  });

  it("a context that cannot be built: TLS failure with its reason, no connection, no byte", async () => {
    const up = await rawUpstream(() => {});
    const r = await get(
      up.port,
      upstreamTls({
        context: () => {
          throw new Error('credential "c": no tls.crt/tls.key/ca.crt');
        },
      }),
    );
    expect(r).toBe(`${TLS_HANDSHAKE}: TLS_error: credential "c": no tls.crt/tls.key/ca.crt`);
    expect(up.sockets).toHaveLength(0);
  });

  it("rejectUnauthorized false talks to a server no trusted root signed; the default refuses it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lanecar-upstream-tls-"));
    initCa(join(dir, "ca"));
    issueWorkload(join(dir, "ca"), join(dir, "srv"), {
      namespace: "x",
      serviceAccount: "srv",
      ttlMs: 3600_000,
    });
    const c = loadWorkloadCert(join(dir, "srv"));
    const srv = https.createServer({ cert: c.certPem, key: c.keyPem }, (_q, s) => s.end("ok"));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    onCleanup(() => {
      srv.closeAllConnections();
      srv.close();
    });
    const port = (srv.address() as AddressInfo).port;
    expect(await get(port, upstreamTls({ rejectUnauthorized: false }))).toBe("200");
    expect(await get(port, upstreamTls())).toMatch(
      new RegExp(
        `^${TLS_HANDSHAKE}: TLS_error: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY) `,
      ),
    );
  });
});
