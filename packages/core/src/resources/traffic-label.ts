/** TrafficLabel (ASM): which labels a workload's requests carry and where their values come from. */
import { parseValueFrom } from "../label/value-from.js";
import { type Check, HEADER_NAME } from "./check.js";
import { joinPath } from "./source.js";
import type { TrafficLabelRule, TrafficLabelSpec, ValueSource } from "./types.js";

export function checkTrafficLabel(c: Check, spec: unknown): TrafficLabelSpec | undefined {
  const o = c.obj(spec, "spec", true);
  if (!o) return undefined;
  c.fields(o, "spec", ["workloadSelector", "rules"], ["hosts"]);
  const tl: TrafficLabelSpec = { rules: [] };
  const ws = c.obj(o.workloadSelector, "spec.workloadSelector");
  if (ws) {
    c.fields(ws, "spec.workloadSelector", ["labels"]);
    tl.workloadSelector = c.strMap(ws.labels, "spec.workloadSelector.labels") ?? {};
  }
  const names = new Set<string>();
  c.list(o.rules, "spec.rules", true).forEach((item, i) => {
    const p = `spec.rules[${i}]`;
    const ro = c.obj(item, p, true);
    if (!ro) return;
    c.fields(ro, p, ["labels", "attachTo", "protocols"]);
    const rule: TrafficLabelRule = { labels: [], attachTo: [], protocols: "*" };
    c.list(ro.labels, joinPath(p, "labels"), true).forEach((l, j) => {
      const lp = joinPath(joinPath(p, "labels"), j);
      const lo = c.obj(l, lp, true);
      if (!lo) return;
      c.fields(lo, lp, ["name", "valueFrom"]);
      const name = c.str(lo.name, joinPath(lp, "name"), true);
      if (name !== undefined && name.toLowerCase() === "__proto__") {
        c.error(joinPath(lp, "name"), `"${name}" is a reserved name`);
      } else if (name !== undefined && !HEADER_NAME.test(name)) {
        c.error(joinPath(lp, "name"), `"${name}" is not a valid header name`);
      }
      if (name !== undefined && names.has(name.toLowerCase()))
        c.error(joinPath(lp, "name"), `label "${name}" is defined twice`);
      if (name !== undefined) names.add(name.toLowerCase());
      const raw = c.strList(lo.valueFrom, joinPath(lp, "valueFrom"), true);
      const valueFrom: ValueSource[] = [];
      raw.forEach((text, k) => {
        const parsed = parseValueFrom(text);
        if ("error" in parsed) c.error(joinPath(joinPath(lp, "valueFrom"), k), parsed.error);
        else valueFrom.push(parsed);
      });
      if (name !== undefined && HEADER_NAME.test(name) && name.toLowerCase() !== "__proto__")
        rule.labels.push({ name: name.toLowerCase(), valueFrom, raw });
    });
    rule.attachTo = c.strList(ro.attachTo, joinPath(p, "attachTo"));
    rule.attachTo.forEach((a, k) => {
      if (a !== "opentracing" && a !== "*")
        c.warn(joinPath(joinPath(p, "attachTo"), k), `unknown carrier "${a}" (known: opentracing)`);
    });
    const protocols = ro.protocols === undefined ? "*" : c.str(ro.protocols, joinPath(p, "protocols"));
    rule.protocols = protocols ?? "*";
    tl.rules.push(rule);
  });
  return tl;
}
