/** `lanecar explain`: where a request from a pod goes, and why. */
import {
  authzNote,
  ConfigSnapshot,
  describeAuthz,
  ExplainInputError,
  type Explanation,
  explain,
  formatDiagnostic,
  loadSnapshot,
} from "@lanecar/core";
import { all, bool, type FlagSpec, namespaceFlag, one, parseArgs, UsageError, usage } from "../args.js";
import type { Io } from "../io.js";
import { loadPodLabels } from "../pod-labels.js";

const FLAGS: FlagSpec[] = [
  { name: "config", short: "c", multiple: true, help: "config file or directory (repeatable)" },
  { name: "request", short: "r", help: 'request line, e.g. "GET http://reviews:9080/reviews/0"' },
  { name: "header", short: "H", multiple: true, help: 'request header "name: value" (repeatable)' },
  {
    name: "namespace",
    short: "n",
    default: "default",
    help: "namespace of the calling pod: short hosts (reviews) mean reviews.NS.svc.cluster.local, and config without metadata.namespace is read into it",
  },
  { name: "pod-labels", help: "labels of the calling pod, k=v,k=v" },
  { name: "pod-labels-file", help: 'labels of the calling pod, downward-API file of key="value" lines' },
  {
    name: "gateway",
    help: "explain as a request arriving at this gateway (name or ns/name) instead of a sidecar outbound call",
  },
  {
    name: "principal",
    help: "the caller's mutual-TLS identity the destination's AuthorizationPolicies judge, spiffe://TD/ns/NS/sa/SA (default: plaintext, no principal)",
  },
  { name: "json", boolean: true, help: "print one JSON object" },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

/** RFC 7230 token: a header name a real request could carry. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `-H "name: value"` flags → headers; anything no HTTP request could carry is a usage error. */
function parseHeaders(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const colon = h.indexOf(":");
    if (colon <= 0) throw new UsageError(`header ${JSON.stringify(h)} is not "name: value"`);
    const name = h.slice(0, colon).trim().toLowerCase();
    const value = h.slice(colon + 1).trim();
    if (!HEADER_NAME.test(name))
      throw new UsageError(`header name ${JSON.stringify(name)} is not a valid HTTP header name`);
    if (/[\r\n\0]/.test(value)) throw new UsageError(`header ${name}: value must not contain CR, LF or NUL`);
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

function hs(x: { host: string; subset: string | undefined } | null): string {
  if (!x) return "-";
  return x.subset === undefined ? x.host : `${x.host} (subset ${x.subset})`;
}

/** `{host, subset}` with `subset: null` rather than absent, so JSON readers always see both keys. */
function hsJson(x: { host: string; subset: string | undefined }): { host: string; subset: string | null } {
  return { host: x.host, subset: x.subset ?? null };
}

function result(e: Explanation): string {
  if (e.action === "abort") return `${e.status} ${e.flag} answered by Lanecar (fault abort, 100%)`;
  if (e.forward)
    return `proxied to ${e.forward.address}:${e.forward.port} (resolved by DNS, resolution ${e.forward.resolution})`;
  if (e.status === null) return `proxied (${e.action})`;
  if (e.action === "redirect" || e.action === "direct") return `${e.status} (${e.action})`;
  return `${e.status}${e.flag ? ` ${e.flag}` : ""} answered by Lanecar (${e.action})`;
}

function pct(p: number): string {
  return `${Number.isInteger(p) ? p : p.toFixed(2)}%`;
}

/** One line per action the proxy applies (only the ones this route has). */
function actionLines(e: Explanation): string[] {
  const out: string[] = [];
  const f = e.fault;
  if (f?.delay) out.push(`fault:       delay ${f.delay.fixedDelayMs}ms (${pct(f.delay.percentage)})`);
  if (f?.abort) out.push(`fault:       abort ${f.abort.httpStatus} FI (${pct(f.abort.percentage)})`);
  for (const m of e.mirrors)
    out.push(`mirror:      ${hs({ host: m.host, subset: m.subset ?? undefined })} (${pct(m.percentage)})`);
  if (e.timeoutMs !== null) out.push(`timeout:     ${e.timeoutMs}ms`);
  if (e.retries && !e.retries.default)
    out.push(
      `retries:     ${e.retries.attempts}${e.retries.perTryTimeoutMs !== null ? ` x ${e.retries.perTryTimeoutMs}ms` : ""} on ${e.retries.retryOn.join(",") || "-"}`,
    );
  if (e.rewrite)
    out.push(
      `rewrite:     ${e.rewrite.path}${e.rewrite.authority ? ` (authority ${e.rewrite.authority})` : ""}`,
    );
  if (e.redirect) out.push(`redirect:    ${e.redirect.status} ${e.redirect.location}`);
  if (e.headers) {
    for (const [dir, ops] of [
      ["request", e.headers.request],
      ["response", e.headers.response],
    ] as const) {
      for (const [k, v] of ops.set) out.push(`headers:     ${dir} set ${k}: ${v}`);
      for (const [k, v] of ops.add) out.push(`headers:     ${dir} add ${k}: ${v}`);
      for (const k of ops.remove) out.push(`headers:     ${dir} remove ${k}`);
    }
  }
  return out;
}

/** Shown only when the config has security.istio.io policies, so routing-only output stays as it was. */
function authzLines(e: Explanation, show: boolean, principal: string | undefined): string[] {
  if (!show) return [];
  if (e.authorization.length === 0) return ["authz:       (no destination workload)"];
  return [
    ...e.authorization.map((a) => `authz:       ${describeAuthz(a)}`),
    `             (${authzNote(principal)})`,
  ];
}

/** `spiffe://TD/ns/NS/sa/SA` or `TD/ns/NS/sa/SA` (as policies write it); anything else is a usage error. */
function parsePrincipal(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const bare = v.startsWith("spiffe://") ? v.slice(9) : v;
  if (!/^[a-z0-9._-]+\/ns\/[^/\s]+\/sa\/[^/\s]+$/.test(bare))
    throw new UsageError(
      `--principal ${JSON.stringify(v)} is not a SPIFFE ID (spiffe://TRUST-DOMAIN/ns/NS/sa/SA)`,
    );
  return `spiffe://${bare}`;
}

function text(e: Explanation, showAuthz: boolean, principal: string | undefined): string {
  const lines = [
    `host:        ${e.host}`,
    `labels:      ${
      Object.entries(e.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ") || "(none)"
    }`,
    `rule:        ${e.rule ?? "(none)"}`,
    `destination: ${hs(e.destination)}`,
    `fallback:    ${e.fallback ? `${e.fallback.reason}: ${hs(e.fallback.from)} -> ${hs(e.fallback.to)}` : "none"}`,
    `result:      ${result(e)}`,
    ...actionLines(e),
    "endpoints:",
    ...(e.endpoints.length === 0
      ? ["  (none)"]
      : e.endpoints.map(
          (ep) =>
            `  ${ep.address}:${ep.port}  ${Object.entries(ep.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(",")}${ep.available ? "" : "  (unavailable)"}`,
        )),
    ...authzLines(e, showAuthz, principal),
    "why:",
    ...e.reasons.map((r) => `  - ${r}`),
  ];
  return lines.join("\n");
}

export async function explainCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, FLAGS, io.env);
  if (bool(args, "help")) {
    io.out(
      usage("explain", "--config PATH... --request \"GET http://host:port/path\" [-H 'k: v']...", FLAGS),
    );
    return 0;
  }
  const config = [...all(args, "config"), ...args.positionals];
  const request = one(args, "request");
  if (config.length === 0 || !request) {
    throw new UsageError('explain needs --config PATH and --request "METHOD URL"');
  }
  const namespace = namespaceFlag(args);
  const podLabels = loadPodLabels(one(args, "pod-labels"), one(args, "pod-labels-file"));
  const headers = parseHeaders(all(args, "header"));
  const principal = parsePrincipal(one(args, "principal"));
  const { snapshot, diagnostics } = loadSnapshot(config, { namespace });
  if (!snapshot) {
    for (const d of diagnostics) if (d.severity === "error") io.err(formatDiagnostic(d));
    return 1;
  }
  const gw = one(args, "gateway");
  const context = gw ? ConfigSnapshot.gatewayContext(gw, namespace) : "mesh";
  if (gw && !snapshot.gateway(context))
    throw new UsageError(`Gateway ${context} is not defined in the config`);
  let e: Explanation;
  try {
    e = explain(snapshot, { request, headers, namespace, podLabels, context, principal });
  } catch (err) {
    if (err instanceof ExplainInputError) throw new UsageError(err.message);
    throw err;
  }
  if (bool(args, "json")) {
    io.out(
      JSON.stringify({
        host: e.host,
        rule: e.rule,
        labels: e.labels,
        destination: e.destination && hsJson(e.destination),
        fallback: e.fallback && {
          reason: e.fallback.reason,
          from: hsJson(e.fallback.from),
          to: hsJson(e.fallback.to),
        },
        endpoints: e.endpoints,
        action: e.action,
        status: e.status,
        flag: e.flag,
        fault: e.fault,
        mirrors: e.mirrors,
        timeoutMs: e.timeoutMs,
        retries: e.retries,
        rewrite: e.rewrite,
        redirect: e.redirect,
        directResponse: e.directResponse,
        headers: e.headers,
        forward: e.forward,
        authorization: e.authorization,
        reasons: e.reasons,
      }),
    );
  } else
    io.out(
      text(e, snapshot.authorizationPolicies.length + snapshot.peerAuthentications.length > 0, principal),
    );
  return 0;
}
