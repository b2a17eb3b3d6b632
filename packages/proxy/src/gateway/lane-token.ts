/**
 * Signed lane tokens: let a tester enter a lane at the gateway without opening the lane to
 * everyone. A token names the label, the lane and an expiry, signed with HMAC-SHA256 under a key
 * only the platform team holds:
 *
 *   x-lanecar-lane-token: v1:<label>:<lane>:<expires-unix-seconds>:<base64url signature>
 *
 * `:` cannot occur in a header name or a label value, so the fields split unambiguously. The
 * gateway verifies in constant time, checks expiry, and never forwards the token header.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { isValidLabelValue } from "@lanecar/core";

export const LANE_TOKEN_HEADER = "x-lanecar-lane-token";
const VERSION = "v1";
/** Keys shorter than this are refused: HMAC-SHA256 wants at least 32 bytes of secret. */
export const MIN_KEY_BYTES = 32;

export class LaneTokenKeyError extends Error {
  readonly code = "LANECAR_LANE_TOKEN_KEY";
}

function sign(key: Buffer, payload: string): string {
  return createHmac("sha256", key).update(payload).digest("base64url");
}

/** Reads a key file (surrounding whitespace trimmed); refuses short keys. */
export function loadLaneTokenKey(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (err) {
    throw new LaneTokenKeyError(`cannot read lane token key ${file}: ${(err as NodeJS.ErrnoException).code}`);
  }
  const key = Buffer.from(raw.toString("utf8").trim(), "utf8");
  if (key.length < MIN_KEY_BYTES)
    throw new LaneTokenKeyError(`lane token key ${file} is shorter than ${MIN_KEY_BYTES} bytes`);
  return key;
}

export function mintLaneToken(key: Buffer, label: string, lane: string, expiresAtSec: number): string {
  if (!isValidLabelValue(lane)) throw new Error(`"${lane}" is not a valid lane value`);
  const payload = `${VERSION}:${label.toLowerCase()}:${lane}:${Math.floor(expiresAtSec)}`;
  return `${payload}:${sign(key, payload)}`;
}

export interface GrantedLane {
  label: string;
  lane: string;
}

export class LaneTokenVerifier {
  constructor(private readonly key: Buffer) {}

  /** The lane a token grants, or undefined when it is malformed, forged or expired. */
  verify(token: string | undefined, nowSec: number = Date.now() / 1000): GrantedLane | undefined {
    if (!token || token.length > 512) return undefined;
    const parts = token.trim().split(":");
    if (parts.length !== 5 || parts[0] !== VERSION) return undefined;
    const [, label, lane, exp, sig] = parts as [string, string, string, string, string];
    if (!/^\d{1,12}$/.test(exp) || Number(exp) < nowSec) return undefined;
    if (!isValidLabelValue(lane) || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(label)) return undefined;
    const want = Buffer.from(sign(this.key, `${VERSION}:${label}:${lane}:${exp}`));
    const got = Buffer.from(sig);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    return { label, lane };
  }
}
