import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  LaneTokenKeyError,
  LaneTokenVerifier,
  loadLaneTokenKey,
  mintLaneToken,
} from "../../src/gateway/lane-token.js";

const key = Buffer.from("k".repeat(40));
const now = 1_800_000_000;

describe("signed lane tokens", () => {
  const v = new LaneTokenVerifier(key);

  it("grants the lane a valid token names", () => {
    const t = mintLaneToken(key, "X-ASM-Prefer-Tag", "gray", now + 60);
    expect(t.startsWith("v1:x-asm-prefer-tag:gray:")).toBe(true);
    expect(v.verify(t, now)).toEqual({ label: "x-asm-prefer-tag", lane: "gray" });
  });

  it("refuses expired, forged, tampered and malformed tokens", () => {
    const t = mintLaneToken(key, "x-asm-prefer-tag", "gray", now + 60);
    expect(v.verify(t, now + 61)).toBeUndefined();
    expect(
      v.verify(mintLaneToken(Buffer.from("o".repeat(40)), "x-asm-prefer-tag", "gray", now + 60), now),
    ).toBeUndefined();
    expect(v.verify(t.replace(":gray:", ":prod:"), now)).toBeUndefined();
    const [a, b, c, d] = t.split(":");
    expect(v.verify(`${a}:${b}:${c}:${Number(d) + 1000}:${t.split(":")[4]}`, now)).toBeUndefined();
    for (const bad of ["", "v1", "v2:a:b:1:x", "v1:a:b:c:d:e", "v1:a:bad value:99999999999:x", `${t}x`]) {
      expect(v.verify(bad, now)).toBeUndefined();
    }
  });

  it("refuses to mint an invalid lane value", () => {
    expect(() => mintLaneToken(key, "l", "bad lane", now)).toThrow(/not a valid lane/);
  });

  it("loads a key file and refuses short or missing keys", () => {
    const dir = mkdtempSync(join(tmpdir(), "lanecar-key-"));
    writeFileSync(join(dir, "ok"), `${"s".repeat(32)}\n`);
    writeFileSync(join(dir, "short"), "tiny");
    expect(loadLaneTokenKey(join(dir, "ok")).length).toBe(32);
    expect(() => loadLaneTokenKey(join(dir, "short"))).toThrow(LaneTokenKeyError);
    expect(() => loadLaneTokenKey(join(dir, "missing"))).toThrow(/ENOENT/);
  });
});
