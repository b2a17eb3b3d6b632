/**
 * A Gateway server's `tls` (Istio `ServerTLSSettings`), checked as Istio's validation does
 * (`validateServer` / `validateTLSOptions`): what is an error in Istio is an error here; what
 * Istio accepts and Lanecar does not implement is a warning, and the server is then not served
 * at all (never served with less security than asked for).
 */
import type { Check, Obj } from "./check.js";
import { joinPath } from "./source.js";
import type { GatewayServer, ServerTls, TlsProtocolVersion } from "./types.js";

const MODES = ["PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"];
const VERSIONS: readonly TlsProtocolVersion[] = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"];

const KNOWN = [
  "httpsRedirect",
  "mode",
  "serverCertificate",
  "privateKey",
  "caCertificates",
  "credentialName",
  "subjectAltNames",
  "minProtocolVersion",
  "maxProtocolVersion",
  "cipherSuites",
];
/** Istio fields Lanecar reads and does not implement (warned by `fields`). */
const IGNORED = [
  "caCrl",
  "verifyCertificateSpki",
  "verifyCertificateHash",
  "credentialNames",
  "tlsCertificates",
];

/**
 * Reads `server.tls` into `server.tls`. `protocol` is the server's port protocol, upper-cased.
 * Returns false when Lanecar does not serve the server (a TLS mode it does not implement, or a
 * TLS-protocol server): it is then left out of the Gateway, so no listener takes its hosts.
 */
export function checkServerTls(
  c: Check,
  raw: unknown,
  p: string,
  protocol: string,
  server: GatewayServer,
): boolean {
  const path = joinPath(p, "tls");
  const isTls = protocol === "HTTPS" || protocol === "TLS";
  if (raw === undefined || raw === null) {
    if (isTls) c.error(path, `is required on an ${protocol} server (as Istio)`);
    return protocol !== "TLS";
  }
  const o = c.obj(raw, path);
  if (!o) return true;
  c.fields(o, path, KNOWN, IGNORED);
  const httpsRedirect = bool(c, o.httpsRedirect, joinPath(path, "httpsRedirect"));
  // Enum names are case-sensitive in Istio's API (protobuf JSON); the default is PASSTHROUGH.
  const mode = c.str(o.mode, joinPath(path, "mode")) ?? "PASSTHROUGH";
  if (!MODES.includes(mode)) {
    c.error(joinPath(path, "mode"), `unknown mode "${mode}" (Istio knows ${MODES.join(", ")})`);
    return true;
  }
  const files = {
    serverCertificate: c.str(o.serverCertificate, joinPath(path, "serverCertificate")) || undefined,
    privateKey: c.str(o.privateKey, joinPath(path, "privateKey")) || undefined,
    caCertificates: c.str(o.caCertificates, joinPath(path, "caCertificates")) || undefined,
  };
  const credentialName = c.str(o.credentialName, joinPath(path, "credentialName")) || undefined;
  const subjectAltNames = c.strList(o.subjectAltNames, joinPath(path, "subjectAltNames"));
  const cipherSuites = c.strList(o.cipherSuites, joinPath(path, "cipherSuites"));
  const min = version(c, o.minProtocolVersion, joinPath(path, "minProtocolVersion"));
  const max = version(c, o.maxProtocolVersion, joinPath(path, "maxProtocolVersion"));
  if (min && max && min !== "TLS_AUTO" && max !== "TLS_AUTO" && VERSIONS.indexOf(min) > VERSIONS.indexOf(max))
    c.error(
      joinPath(path, "maxProtocolVersion"),
      `${max} is lower than minProtocolVersion ${min} (as Istio)`,
    );

  if (!isTls) {
    // An HTTP server may carry only `httpsRedirect` (Istio: no TLS settings on plain-text ports).
    if (
      o.mode !== undefined ||
      files.serverCertificate ||
      files.privateKey ||
      files.caCertificates ||
      credentialName
    )
      c.error(path, `an ${protocol} server cannot have TLS settings other than httpsRedirect (as Istio)`);
    if (httpsRedirect) server.tls = { httpsRedirect, subjectAltNames: [], cipherSuites: [] };
    return true;
  }
  if (mode === "ISTIO_MUTUAL") {
    for (const [k, v] of Object.entries({ ...files, credentialName }))
      if (v) c.error(joinPath(path, k), "ISTIO_MUTUAL cannot have its own certificates (as Istio)");
  } else if ((mode === "SIMPLE" || mode === "MUTUAL" || mode === "OPTIONAL_MUTUAL") && !credentialName) {
    if (!files.serverCertificate)
      c.error(
        joinPath(path, "serverCertificate"),
        `${mode} requires a server certificate (or credentialName)`,
      );
    if (!files.privateKey)
      c.error(joinPath(path, "privateKey"), `${mode} requires a private key (or credentialName)`);
    if (mode !== "SIMPLE" && !files.caCertificates)
      c.error(joinPath(path, "caCertificates"), `${mode} requires a client CA bundle (or credentialName)`);
  }
  if (protocol === "TLS") return false; // already warned: TLS servers are not supported (protocols.ts)
  if (mode !== "SIMPLE" && mode !== "MUTUAL") {
    c.warn(
      joinPath(path, "mode"),
      `${mode} is not supported by Lanecar; this server is not served (no listener takes its hosts)`,
    );
    return false;
  }
  if (mode === "SIMPLE" && subjectAltNames.length > 0)
    c.warn(joinPath(path, "subjectAltNames"), "only checked in MUTUAL mode; ignored");
  const tls: ServerTls = { httpsRedirect, mode, subjectAltNames, cipherSuites };
  if (credentialName) tls.credentialName = credentialName;
  else Object.assign(tls, stripUndefined(files));
  if (min) tls.minProtocolVersion = min;
  if (max) tls.maxProtocolVersion = max;
  server.tls = tls;
  return true;
}

function bool(c: Check, v: unknown, path: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") {
    c.error(path, "must be true or false");
    return false;
  }
  return v;
}

function version(c: Check, v: unknown, path: string): TlsProtocolVersion | undefined {
  const s = c.str(v, path);
  if (s === undefined) return undefined;
  if (!VERSIONS.includes(s as TlsProtocolVersion)) {
    c.error(path, `unknown TLS version "${s}" (Istio knows ${VERSIONS.join(", ")})`);
    return undefined;
  }
  return s as TlsProtocolVersion;
}

function stripUndefined(o: Obj): Obj {
  const out: Obj = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
