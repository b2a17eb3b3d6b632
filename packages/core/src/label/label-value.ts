/**
 * What a label value may be: a Kubernetes label value (1-63 chars, alphanumeric at both ends,
 * `-_.` inside). Anything else (CR/LF, spaces, over 63 chars) is ignored and never forwarded.
 */
function alnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Same as `^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`, as a loop: it runs on every request. */
export function isValidLabelValue(v: string): boolean {
  const n = v.length;
  if (n === 0 || n > 63 || !alnum(v.charCodeAt(0)) || !alnum(v.charCodeAt(n - 1))) return false;
  for (let i = 1; i < n - 1; i++) {
    const c = v.charCodeAt(i);
    if (!alnum(c) && c !== 45 && c !== 46 && c !== 95) return false;
  }
  return true;
}
