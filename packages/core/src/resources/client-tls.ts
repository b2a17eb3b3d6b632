/**
 * DestinationRule `tls` (Istio ClientTLSSettings) at rule, subset and port level: what a
 * connection to the destination must be. Validated as Istio validates it (`validateTLS`):
 * `credentialName` excludes the file fields, `MUTUAL` without a credential needs both the client
 * certificate and its key; fields a mode does not use are said to be ignored.
 */
import type { Check } from "./check.js";
import { joinPath } from "./source.js";
import type { ClientTlsMode, ClientTlsSettings } from "./types.js";

const TLS_MODES = ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] as const;

/** File and credential fields: what ISTIO_MUTUAL and DISABLE never read. */
const MATERIAL = ["caCertificates", "clientCertificate", "privateKey", "credentialName"] as const;

export function checkClientTls(c: Check, v: unknown, path: string): ClientTlsSettings | undefined {
  const o = c.obj(v, path);
  if (!o) return undefined;
  c.fields(
    o,
    path,
    [
      "mode",
      "clientCertificate",
      "privateKey",
      "caCertificates",
      "credentialName",
      "subjectAltNames",
      "sni",
      "insecureSkipVerify",
    ],
    ["caCrl"],
  );
  const mode = c.str(o.mode, joinPath(path, "mode")) ?? "DISABLE";
  if (!(TLS_MODES as readonly string[]).includes(mode)) {
    c.error(joinPath(path, "mode"), `"${mode}" is not one of ${TLS_MODES.join(", ")}`);
    return undefined;
  }
  const tls: ClientTlsSettings = { mode: mode as ClientTlsMode };
  for (const k of [...MATERIAL, "sni"] as const) {
    const s = c.str(o[k], joinPath(path, k));
    if (s) tls[k] = s;
  }
  const sans = c.strList(o.subjectAltNames, joinPath(path, "subjectAltNames"));
  if (sans.length > 0) tls.subjectAltNames = sans;
  const skip = c.bool(o.insecureSkipVerify, joinPath(path, "insecureSkipVerify"));
  if (skip !== undefined) tls.insecureSkipVerify = skip;

  if (mode === "DISABLE" || mode === "ISTIO_MUTUAL") {
    // ISTIO_MUTUAL uses the workload identity (`--identity-dir`); sni and subjectAltNames apply.
    const unused = mode === "DISABLE" ? [...MATERIAL, "sni", "subjectAltNames"] : MATERIAL;
    for (const k of unused)
      if (o[k] !== undefined) c.warn(joinPath(path, k), `not used with mode ${mode}; ignored`);
    if (o.insecureSkipVerify !== undefined)
      c.warn(joinPath(path, "insecureSkipVerify"), `not used with mode ${mode}; ignored`);
    return tls;
  }
  if (tls.credentialName) {
    // As Istio: the credential holds the certificates, the file fields must stay empty.
    for (const k of ["clientCertificate", "privateKey", "caCertificates"] as const)
      if (tls[k])
        c.error(joinPath(path, k), "cannot be set together with credentialName (the credential holds it)");
    return tls;
  }
  if (mode === "MUTUAL") {
    if (!tls.clientCertificate)
      c.error(joinPath(path, "clientCertificate"), "is required for MUTUAL (or set credentialName)");
    if (!tls.privateKey)
      c.error(joinPath(path, "privateKey"), "is required for MUTUAL (or set credentialName)");
  } else if (tls.clientCertificate || tls.privateKey) {
    // SIMPLE presents no client certificate: Istio ignores these too.
    for (const k of ["clientCertificate", "privateKey"] as const)
      if (tls[k]) c.warn(joinPath(path, k), "not used with mode SIMPLE; ignored");
    delete tls.clientCertificate;
    delete tls.privateKey;
  }
  return tls;
}
