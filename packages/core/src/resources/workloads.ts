/** ServiceEntry, WorkloadEntry, WorkloadGroup and Gateway: where services and instances are. */
import { type Check, HEADER_NAME, type Obj, SERVICE_HOST } from "./check.js";
import { checkServerTls } from "./gateway-tls.js";
import { checkProtocol, skippedEndpoint } from "./protocols.js";
import { joinPath } from "./source.js";
import type {
  GatewayServer,
  GatewaySpec,
  Probe,
  ServiceEntrySpec,
  ServicePort,
  WorkloadEntrySpec,
  WorkloadGroupSpec,
} from "./types.js";

/** A Kubernetes service account name (DNS subdomain), as in a SPIFFE ID. */
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const ADDRESS =
  /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9A-Fa-f:]+\]?|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$/;

export function checkWorkloadEntryBody(
  c: Check,
  o: Obj,
  path: string,
  known: string[] = [],
): WorkloadEntrySpec | undefined {
  if (skippedEndpoint(c, o, path)) return undefined;
  c.fields(
    o,
    path,
    ["address", "ports", "labels", "weight", "serviceAccount", ...known],
    ["network", "locality"],
  );
  const address = c.str(o.address, joinPath(path, "address"), true);
  if (address !== undefined && !ADDRESS.test(address))
    c.error(joinPath(path, "address"), `"${address}" is not an IP address or host name`);
  const portsRaw = c.obj(o.ports, joinPath(path, "ports"));
  const ports: Record<string, number> = {};
  if (portsRaw) {
    for (const [name, n] of Object.entries(portsRaw)) {
      const v = c.int(n, joinPath(joinPath(path, "ports"), name), { min: 1, max: 65535 });
      if (v !== undefined) ports[name] = v;
    }
  }
  const labels = c.strMap(o.labels, joinPath(path, "labels")) ?? {};
  const weight = c.int(o.weight, joinPath(path, "weight"), { min: 0 }) ?? 1;
  // The identity a mutual-TLS peer at this address must present (with the entry's namespace).
  const sa = c.str(o.serviceAccount, joinPath(path, "serviceAccount"));
  if (sa !== undefined && !SERVICE_ACCOUNT.test(sa))
    c.error(joinPath(path, "serviceAccount"), `"${sa}" is not a valid service account name`);
  if (address === undefined) return undefined;
  const we: WorkloadEntrySpec = {
    address: address.replace(/^\[|\]$/g, ""),
    ports,
    labels,
    weight: weight || 1,
  };
  if (sa && SERVICE_ACCOUNT.test(sa)) we.serviceAccount = sa;
  return we;
}

export function checkWorkloadEntry(c: Check, spec: unknown): WorkloadEntrySpec | undefined {
  const o = c.obj(spec, "spec", true);
  return o ? checkWorkloadEntryBody(c, o, "spec") : undefined;
}

export function checkServiceEntry(c: Check, spec: unknown): ServiceEntrySpec | undefined {
  const o = c.obj(spec, "spec", true);
  if (!o) return undefined;
  c.fields(
    o,
    "spec",
    [
      "hosts",
      "ports",
      "location",
      "resolution",
      "endpoints",
      "workloadSelector",
      "exportTo",
      "subjectAltNames",
    ],
    ["addresses"],
  );
  const hosts = c.strList(o.hosts, "spec.hosts", true);
  // A host becomes a Host header and a metric label: only DNS names, never CR/LF or spaces.
  hosts.forEach((h, i) => {
    if (!SERVICE_HOST.test(h)) c.error(`spec.hosts[${i}]`, `"${h}" is not a valid host`);
  });
  const ports: ServicePort[] = [];
  const portNames = new Set<string>();
  c.list(o.ports, "spec.ports").forEach((item, i) => {
    const p = `spec.ports[${i}]`;
    const po = c.obj(item, p, true);
    if (!po) return;
    c.fields(po, p, ["number", "name", "protocol", "targetPort"]);
    const number = c.int(po.number, joinPath(p, "number"), { required: true, min: 1, max: 65535 });
    const name = c.str(po.name, joinPath(p, "name"), true);
    const protocol = checkProtocol(c, po.protocol, joinPath(p, "protocol"), "service");
    const targetPort = c.int(po.targetPort, joinPath(p, "targetPort"), { min: 1, max: 65535 });
    if (number === undefined || name === undefined) return;
    if (portNames.has(name)) c.error(joinPath(p, "name"), `duplicate port name "${name}"`);
    portNames.add(name);
    const sp: ServicePort = { number, name, protocol };
    if (targetPort !== undefined) sp.targetPort = targetPort;
    ports.push(sp);
  });
  if (Array.isArray(o.ports) && o.ports.length === 0) c.error("spec.ports", "must not be empty");
  if (o.ports === undefined) c.error("spec.ports", "is required");
  const location =
    c.oneOf(o.location, "spec.location", ["MESH_EXTERNAL", "MESH_INTERNAL"] as const) ?? "MESH_EXTERNAL";
  const resolution =
    c.oneOf(o.resolution, "spec.resolution", ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"] as const) ?? "NONE";
  const endpoints: WorkloadEntrySpec[] = [];
  c.list(o.endpoints, "spec.endpoints").forEach((item, i) => {
    const p = `spec.endpoints[${i}]`;
    const eo = c.obj(item, p, true);
    if (!eo) return;
    const e = checkWorkloadEntryBody(c, eo, p);
    if (!e) return;
    for (const name of Object.keys(e.ports)) {
      if (!portNames.has(name))
        c.error(joinPath(joinPath(p, "ports"), name), `no service port is named "${name}"`);
    }
    endpoints.push(e);
  });
  let workloadSelector: Record<string, string> | undefined;
  const ws = c.obj(o.workloadSelector, "spec.workloadSelector");
  if (ws) {
    c.fields(ws, "spec.workloadSelector", ["labels"]);
    workloadSelector = c.strMap(ws.labels, "spec.workloadSelector.labels") ?? {};
    if (endpoints.length > 0) c.error("spec.workloadSelector", "cannot be set together with endpoints");
  }
  if (
    (resolution === "DNS" || resolution === "DNS_ROUND_ROBIN") &&
    endpoints.length === 0 &&
    !workloadSelector
  ) {
    // As Istio: with no endpoints the hosts themselves are resolved, so they must be names.
    hosts.forEach((h, i) => {
      if (h.includes("*"))
        c.error(
          `spec.hosts[${i}]`,
          `"${h}" is a wildcard: resolution ${resolution} without endpoints needs host names`,
        );
    });
  }
  const se: ServiceEntrySpec = { hosts, ports, location, resolution, endpoints };
  if (workloadSelector) se.workloadSelector = workloadSelector;
  const sans = c.strList(o.subjectAltNames, "spec.subjectAltNames");
  if (sans.length > 0) se.subjectAltNames = sans;
  return se;
}

export function checkWorkloadGroup(c: Check, spec: unknown): WorkloadGroupSpec | undefined {
  const o = c.obj(spec, "spec", true);
  if (!o) return undefined;
  c.fields(o, "spec", ["metadata", "template", "probe"]);
  const meta = c.obj(o.metadata, "spec.metadata");
  if (meta) c.fields(meta, "spec.metadata", ["labels", "annotations"]);
  const labels = (meta && c.strMap(meta.labels, "spec.metadata.labels")) ?? {};
  if (o.template !== undefined) c.obj(o.template, "spec.template");
  const wg: WorkloadGroupSpec = { labels };
  const pr = c.obj(o.probe, "spec.probe");
  if (pr) {
    c.fields(
      pr,
      "spec.probe",
      [
        "httpGet",
        "initialDelaySeconds",
        "periodSeconds",
        "timeoutSeconds",
        "failureThreshold",
        "successThreshold",
      ],
      ["tcpSocket", "exec"],
    );
    const hg = c.obj(pr.httpGet, "spec.probe.httpGet", pr.tcpSocket === undefined && pr.exec === undefined);
    const secs = (k: string, def: number, min: number) => c.int(pr[k], `spec.probe.${k}`, { min }) ?? def;
    const initial = secs("initialDelaySeconds", 0, 0);
    const period = secs("periodSeconds", 10, 1);
    const timeout = secs("timeoutSeconds", 1, 1);
    const failure = secs("failureThreshold", 3, 1);
    const success = secs("successThreshold", 1, 1);
    if (hg) {
      c.fields(hg, "spec.probe.httpGet", ["path", "port", "host", "scheme", "httpHeaders"]);
      const path = c.str(hg.path, "spec.probe.httpGet.path") ?? "/";
      if (!path.startsWith("/")) c.error("spec.probe.httpGet.path", "must start with /");
      const port = c.int(hg.port, "spec.probe.httpGet.port", { required: true, min: 1, max: 65535 });
      const scheme = c.oneOf(hg.scheme, "spec.probe.httpGet.scheme", ["HTTP", "HTTPS"] as const) ?? "HTTP";
      const headers: [string, string][] = [];
      c.list(hg.httpHeaders, "spec.probe.httpGet.httpHeaders").forEach((h, i) => {
        const hp = `spec.probe.httpGet.httpHeaders[${i}]`;
        const ho = c.obj(h, hp, true);
        if (!ho) return;
        const name = c.str(ho.name, joinPath(hp, "name"), true);
        const value = c.str(ho.value, joinPath(hp, "value")) ?? "";
        if (name && HEADER_NAME.test(name) && !/[\r\n\0]/.test(value)) headers.push([name, value]);
        else if (name) c.error(hp, "invalid probe header");
      });
      if (port !== undefined) {
        wg.probe = {
          path,
          port,
          scheme,
          headers,
          initialDelayMs: initial * 1000,
          periodMs: period * 1000,
          timeoutMs: timeout * 1000,
          failureThreshold: failure,
          successThreshold: success,
        } satisfies Probe;
        const host = c.str(hg.host, "spec.probe.httpGet.host");
        if (host) wg.probe.host = host;
      }
    }
  }
  return wg;
}

export function checkGateway(c: Check, spec: unknown): GatewaySpec | undefined {
  const o = c.obj(spec, "spec", true);
  if (!o) return undefined;
  c.fields(o, "spec", ["selector", "servers"]);
  const selector = c.strMap(o.selector, "spec.selector") ?? {};
  const servers: GatewayServer[] = [];
  c.list(o.servers, "spec.servers", true).forEach((item, i) => {
    const p = `spec.servers[${i}]`;
    const so = c.obj(item, p, true);
    if (!so) return;
    c.fields(so, p, ["port", "hosts", "name", "bind", "tls"], ["defaultEndpoint"]);
    const port = c.obj(so.port, joinPath(p, "port"), true);
    const hosts = c.strList(so.hosts, joinPath(p, "hosts"), true);
    if (!port) return;
    c.fields(port, joinPath(p, "port"), ["number", "name", "protocol", "targetPort"]);
    const number = c.int(port.number, joinPath(p, "port.number"), { required: true, min: 1, max: 65535 });
    const protocol = checkProtocol(c, port.protocol, joinPath(p, "port.protocol"), "gateway", true);
    // Istio: "port name must be set".
    if (port.name === undefined || port.name === "")
      c.error(joinPath(p, "port.name"), "is required (as Istio)");
    if (number === undefined) return;
    const server: GatewayServer = { port: { number, protocol }, hosts };
    const pn = c.str(port.name, joinPath(p, "port.name"));
    if (pn) server.port.name = pn;
    const name = c.str(so.name, joinPath(p, "name"));
    if (name) server.name = name;
    // A server Lanecar does not serve (PASSTHROUGH, ISTIO_MUTUAL, TLS, ...) is warned and left out.
    if (checkServerTls(c, so.tls, p, protocol, server)) servers.push(server);
  });
  return { selector, servers };
}
