/**
 * Validation of an AuthorizationPolicy spec as Istio's does it (errors with positions), plus
 * warnings for what Lanecar reads but cannot enforce. Evaluation is authorization-policy.ts.
 */
import { isIP } from "node:net";
import { type AuthorizationPolicySpec, conditionGetter, UNSUPPORTED } from "./authorization-policy.js";
import { patternProblem } from "./string-match.js";

export interface AuthzProblem {
  severity: "error" | "warning";
  path: string;
  message: string;
}

const ACTIONS = new Set(["ALLOW", "DENY", "AUDIT", "CUSTOM"]);

function checkList(
  out: AuthzProblem[],
  path: string,
  list: unknown,
  check: (v: string) => string | undefined,
): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) {
    out.push({ severity: "error", path, message: "must be a list of strings" });
    return;
  }
  list.forEach((v, i) => {
    const bad = typeof v !== "string" ? "must be a string" : check(v);
    if (bad) out.push({ severity: "error", path: `${path}[${i}]`, message: bad });
  });
}

function cidrProblem(v: string): string | undefined {
  const [addr, bits, extra] = v.split("/");
  const fam = isIP(addr ?? "");
  if (fam === 0 || extra !== undefined) return `"${v}" is not an IP address or CIDR block`;
  if (bits !== undefined) {
    const n = Number(bits);
    if (!/^\d+$/.test(bits) || n > (fam === 4 ? 32 : 128)) return `"${v}" has an invalid prefix length`;
  }
  return undefined;
}

function portProblem(v: string): string | undefined {
  const n = Number(v);
  return /^\d+$/.test(v) && n >= 1 && n <= 65535 ? undefined : `"${v}" is not a port number`;
}

/** Istio's validation of an AuthorizationPolicy spec, plus warnings for what Lanecar does not enforce. */
export function checkAuthorizationPolicy(spec: AuthorizationPolicySpec): AuthzProblem[] {
  const out: AuthzProblem[] = [];
  const action = spec.action ?? "ALLOW";
  if (!ACTIONS.has(action))
    out.push({
      severity: "error",
      path: "spec.action",
      message: `"${action}" is not one of ALLOW, DENY, AUDIT, CUSTOM`,
    });
  if (action === "CUSTOM")
    out.push({
      severity: "warning",
      path: "spec.action",
      message:
        "CUSTOM (external authorization) is not supported; requests it matches are denied (fail closed)",
    });
  if (spec.provider && action !== "CUSTOM")
    out.push({ severity: "error", path: "spec.provider", message: "only allowed with action CUSTOM" });
  if (spec.targetRef || spec.targetRefs)
    out.push({
      severity: "warning",
      path: spec.targetRef ? "spec.targetRef" : "spec.targetRefs",
      message: "not supported (gateway/waypoint policies); this policy applies to no sidecar",
    });
  (spec.rules ?? []).forEach((rule, i) => {
    const rp = `spec.rules[${i}]`;
    (rule.from ?? []).forEach((f, j) => {
      const s = f.source;
      const sp = `${rp}.from[${j}].source`;
      if (!s) {
        out.push({ severity: "error", path: sp, message: "must be set" });
        return;
      }
      for (const k of ["principals", "notPrincipals", "namespaces", "notNamespaces"] as const)
        checkList(out, `${sp}.${k}`, s[k], patternProblem);
      for (const k of ["ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"] as const)
        checkList(out, `${sp}.${k}`, s[k], cidrProblem);
      for (const k of ["requestPrincipals", "notRequestPrincipals"] as const)
        if (s[k]?.length)
          out.push({
            severity: "warning",
            path: `${sp}.${k}`,
            message:
              "not supported (needs RequestAuthentication/JWT): an ALLOW rule using it matches nothing, a DENY rule ignores it",
          });
    });
    (rule.to ?? []).forEach((t, j) => {
      const o = t.operation;
      const op = `${rp}.to[${j}].operation`;
      if (!o) {
        out.push({ severity: "error", path: op, message: "must be set" });
        return;
      }
      for (const k of ["hosts", "notHosts", "methods", "notMethods"] as const)
        checkList(out, `${op}.${k}`, o[k], patternProblem);
      for (const k of ["paths", "notPaths"] as const) checkList(out, `${op}.${k}`, o[k], patternProblem);
      for (const k of ["ports", "notPorts"] as const) checkList(out, `${op}.${k}`, o[k], portProblem);
    });
    (rule.when ?? []).forEach((c, j) => {
      const cp = `${rp}.when[${j}]`;
      if (typeof c.key !== "string" || c.key === "") {
        out.push({ severity: "error", path: `${cp}.key`, message: "must be set" });
        return;
      }
      if (!c.values?.length && !c.notValues?.length)
        out.push({
          severity: "error",
          path: cp,
          message: `at least one of values or notValues must be set for key ${c.key}`,
        });
      const get = conditionGetter(c.key);
      if (get === undefined)
        out.push({ severity: "error", path: `${cp}.key`, message: `unknown attribute "${c.key}"` });
      else if (get === UNSUPPORTED)
        out.push({
          severity: "warning",
          path: `${cp}.key`,
          message: `"${c.key}" is not supported: an ALLOW rule using it matches nothing, a DENY rule ignores it`,
        });
      const ip = c.key === "source.ip" || c.key === "remote.ip";
      checkList(out, `${cp}.values`, c.values, ip ? cidrProblem : patternProblem);
      checkList(out, `${cp}.notValues`, c.notValues, ip ? cidrProblem : patternProblem);
    });
  });
  return out;
}
