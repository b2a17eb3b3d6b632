/**
 * Request targets in absolute form (RFC 9112 §3.2.2: `http://host[:port]/path?query`), as a
 * client talking to a proxy sends them. A listener that forwards to an origin (the sidecar
 * inbound) normalises them to origin form, with the authority taken from the target.
 */

export interface SplitTarget {
  /** `host[:port]` from the target. */
  authority: string;
  /** Origin form: `/path?query` (`/` when the target has no path). */
  path: string;
}

/** Splits an `http://` absolute-form target; undefined when `url` is not one (any case of scheme). */
export function splitAbsoluteForm(url: string): SplitTarget | undefined {
  if (url.length < 8 || url.slice(0, 7).toLowerCase() !== "http://") return undefined;
  let end = 7;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */) break;
    end++;
  }
  const authority = url.slice(7, end);
  if (authority === "" || authority.includes("@")) return undefined;
  const rest = url.slice(end);
  return { authority, path: rest === "" ? "/" : rest.charCodeAt(0) === 63 ? `/${rest}` : rest };
}

/** The same authority, ignoring case and an explicit default port (`a` = `A:80`). */
export function sameAuthority(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  const strip = (s: string) => (s.endsWith(":80") ? s.slice(0, -3) : s);
  return strip(x) === strip(y);
}
