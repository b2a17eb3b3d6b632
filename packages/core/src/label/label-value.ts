/**
 * What a label value may be: a Kubernetes label value (1-63 chars, alphanumeric at both ends,
 * `-_.` inside). Anything else (CR/LF, spaces, over 63 chars) is ignored and never forwarded.
 */
const VALID = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

export function isValidLabelValue(v: string): boolean {
  return v.length <= 63 && VALID.test(v);
}
