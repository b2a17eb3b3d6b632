/**
 * `nginx-ssl`: the native twin of `lanecar-lanes-mtls` — client → nginx A → mutual TLS → nginx B
 * → upstream, one worker each. A proxies with `proxy_ssl` to B: its own certificate, B's verified
 * against the root (`proxy_ssl_verify on`, name `upstream`), sessions reused, kept-alive upstream
 * connections (`keepalive`, HTTP/1.1, `Connection ""`). B terminates TLS and requires a client
 * certificate from the same root (`ssl_verify_client on`), then proxies plaintext to the upstream
 * with keep-alive, as sidecar B does. Certificates: mesh-certs.ts (P-256, as Lanecar's).
 *
 * TLS 1.2 and 1.3 on both hops, as Node's defaults; nginx 1.22 leaves 1.3 out of its default
 * `proxy_ssl_protocols`, so it is named here, and both sides negotiate TLS 1.3.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, waitHttp } from "../proc.js";
import { newRoot, nginxLeaf, opensslUnavailable, type PemFiles, tlsProbe } from "./mesh-certs.js";
import { nginxShell, nginxUpstream, noNginx, startNginx } from "./nginx.js";
import type { Scenario } from "./types.js";

const PROTOCOLS = "TLSv1.2 TLSv1.3";

/** nginx A: plaintext from the client, mutual TLS to B (`backPort`). */
export function nginxSslFrontConf(dir: string, port: number, backPort: number, own: PemFiles): string {
  return nginxShell(
    dir,
    `${nginxUpstream("backend_tls", backPort)}  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass https://backend_tls;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_ssl_protocols ${PROTOCOLS};
      proxy_ssl_certificate ${own.cert};
      proxy_ssl_certificate_key ${own.key};
      proxy_ssl_trusted_certificate ${own.root};
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_name upstream;
      proxy_ssl_session_reuse on;
    }
  }
`,
  );
}

/** nginx B: mutual TLS in (client certificate required), plaintext with keep-alive to the upstream. */
export function nginxSslBackConf(dir: string, port: number, upstreamPort: number, own: PemFiles): string {
  return nginxShell(
    dir,
    `${nginxUpstream("app", upstreamPort)}  server {
    listen 127.0.0.1:${port} ssl backlog=4096;
    ssl_protocols ${PROTOCOLS};
    ssl_certificate ${own.cert};
    ssl_certificate_key ${own.key};
    ssl_client_certificate ${own.root};
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
    }
  }
`,
  );
}

export const nginxSsl: Scenario = {
  name: "nginx-ssl",
  kind: "native",
  description:
    "nginx → mutual TLS (proxy_ssl, verify, session reuse, keepalive) → nginx (ssl_verify_client on) → upstream, one worker each: the native twin of lanecar-lanes-mtls",
  unavailable: () => noNginx() ?? opensslUnavailable(),
  async start(ctx) {
    const [front, back] = [await freePort(), await freePort()];
    const ca = newRoot(ctx.tmp);
    const certA = nginxLeaf(ca, ctx.tmp, "productpage", "productpage");
    const certB = nginxLeaf(ca, ctx.tmp, "upstream", "upstream");
    const [ad, bd] = [join(ctx.tmp, "nginx-front"), join(ctx.tmp, "nginx-back")];
    const b = startNginx("nginx-ssl-back", bd, nginxSslBackConf(bd, back, ctx.upstream.port, certB));
    const a = startNginx("nginx-ssl-front", ad, nginxSslFrontConf(ad, front, back, certA));
    const url = `http://127.0.0.1:${front}${ctx.path}`;
    const stop = async () => void (await Promise.all([a.stop(), b.stop()]));
    const notes: string[] = [];
    try {
      await waitHttp([a, b], url);
      const own = { cert: readFileSync(certA.cert), key: readFileSync(certA.key) };
      notes.push(`nginx B, client with a certificate: ${await tlsProbe(back, own)}`);
      notes.push(`nginx B, client without one: ${await tlsProbe(back)}`);
    } catch (err) {
      await stop();
      throw err;
    }
    return { target: { url }, pids: [a.pid, b.pid], notes, stop };
  },
};
