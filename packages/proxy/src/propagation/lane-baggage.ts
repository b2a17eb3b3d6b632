/**
 * Lane labels as W3C baggage members (`attachTo: opentracing`): each resolved label is set as
 * member `<name>=<value>`, an unresolved one is removed, and every other member passes through
 * byte for byte. Operates on the flat upstream header array.
 */
import { removeBaggageMember, setBaggageMember } from "./baggage.js";

export function setLaneBaggage(
  headers: string[],
  baggageLabels: readonly string[],
  labels: Readonly<Record<string, string>>,
): void {
  if (baggageLabels.length === 0) return;
  let at = -1;
  let value: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === "baggage") {
      if (at < 0) {
        at = i;
        value = headers[i + 1];
      } else {
        // Several baggage headers are one list (RFC 9110 §5.3): fold them into the first.
        value = `${value},${headers[i + 1]}`;
        headers.splice(i, 2);
        i -= 2;
      }
    }
  }
  let next = value;
  for (const name of baggageLabels) {
    const v = labels[name];
    next =
      v === undefined
        ? next === undefined
          ? undefined
          : removeBaggageMember(next, name)
        : setBaggageMember(next, name, v);
  }
  if (at >= 0) {
    if (next === undefined || next === "") headers.splice(at, 2);
    else headers[at + 1] = next;
  } else if (next !== undefined && next !== "") headers.push("baggage", next);
}
