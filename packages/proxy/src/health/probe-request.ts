/**
 * One HTTP(S) GET probe, with Kubernetes `httpGet` semantics (which WorkloadGroup copies):
 * - connects to `probe.host` when set (k8s: "host name to connect to, defaults to the pod IP"),
 *   else to the endpoint address, on `probe.port`; a `Host` header comes from `httpHeaders` or
 *   defaults to that address and port;
 * - status 200–399 is success, anything else, a connect error or no response headers within
 *   `probe.timeoutMs` is failure; redirects are not followed;
 * - HTTPS probes do not verify the certificate (as the kubelet);
 * - to a mutual-TLS (ISTIO_MUTUAL) endpoint the probe rides the cluster's transport, as Envoy's
 *   active health checks do: mTLS with the workload identity and the peer's SPIFFE check (`tls`);
 *   a STRICT sidecar would refuse a plaintext probe and every instance would look down;
 * - a fresh connection per probe (no agent, `Connection: close`), so a probe never rides on or
 *   keeps open a pooled connection and a dead endpoint cannot hide behind one.
 */
import { type ClientRequest, request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { PeerCertificate, SecureContext } from "node:tls";
import type { Endpoint, Probe } from "@lanecar/core";

export const PROBE_USER_AGENT = "lanecar-probe/1";
/**
 * Marks a request as an active health check, so the called sidecar's inbound listener keeps it
 * out of `istio_*` (health probes are not traffic). Set after the probe's own headers, so
 * `httpHeaders` cannot remove it; the inbound listener strips it before the app, and the gateway
 * and outbound listener drop copies clients or apps send.
 */
export const PROBE_HEADER = "x-lanecar-probe";

export interface ProbeOutcome {
  ok: boolean;
  /** Status code, or a short error description. */
  detail: number | string;
}

/** Mutual TLS for a probe: the workload identity's context and the peer check of its pools. */
export interface ProbeTls {
  secureContext: SecureContext;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  /** SNI, only when the plan configures one (mesh peers are told apart by certificate). */
  servername?: string;
}

/** Starts one probe; `done` is called exactly once unless the returned cancel runs first. */
export function sendProbe(
  ep: Endpoint,
  probe: Probe,
  done: (o: ProbeOutcome) => void,
  tls?: ProbeTls,
): () => void {
  let finished = false;
  let req: ClientRequest | undefined;
  const finish = (o: ProbeOutcome) => {
    if (finished) return;
    finished = true;
    done(o);
  };
  // The deadline also bounds reading the body: whatever is still open then is destroyed.
  const timer = setTimeout(() => {
    finish({ ok: false, detail: "timeout" });
    req?.destroy();
  }, probe.timeoutMs);
  timer.unref();

  const headers: OutgoingHttpHeaders = { "user-agent": PROBE_USER_AGENT, connection: "close", accept: "*/*" };
  for (const [name, value] of probe.headers) headers[name.toLowerCase()] = value;
  headers[PROBE_HEADER] = "1";
  const send = probe.scheme === "HTTPS" || tls ? httpsRequest : httpRequest;
  try {
    req = send({
      host: probe.host ?? ep.address,
      port: probe.port,
      path: probe.path,
      method: "GET",
      headers,
      agent: false,
      ...(tls
        ? { ...tls, rejectUnauthorized: true }
        : probe.scheme === "HTTPS"
          ? { rejectUnauthorized: false }
          : {}),
    });
  } catch (err) {
    clearTimeout(timer);
    finish({ ok: false, detail: (err as Error).message });
    return () => {};
  }
  req.on("close", () => clearTimeout(timer));
  req.on("response", (res) => {
    const status = res.statusCode ?? 0;
    finish({ ok: status >= 200 && status < 400, detail: status });
    // Drain the body; the server closes the connection after it (Connection: close).
    res.on("error", () => {});
    res.resume();
  });
  req.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, detail: err.code ?? err.message }));
  req.end();
  return () => {
    finished = true;
    clearTimeout(timer);
    req?.destroy();
  };
}
