import { describe, expect, it } from "vitest";
import {
  BAGGAGE_MAX_BYTES,
  BAGGAGE_MAX_MEMBERS,
  getBaggageMember,
  removeBaggageMember,
  removeBaggageMemberVariants,
  setBaggageMember,
} from "../../src/propagation/baggage.js";
import { setLaneBaggage } from "../../src/propagation/lane-baggage.js";

describe("W3C baggage member editing", () => {
  it("appends a member to an absent or empty header", () => {
    expect(setBaggageMember(undefined, "lane", "gray")).toBe("lane=gray");
    expect(setBaggageMember("  ", "lane", "gray")).toBe("lane=gray");
  });

  it("replaces the member and keeps every other member byte for byte", () => {
    const h = "userId=alice,  lane=prod;ttl=5 , sessionId=a%2Cb;p";
    expect(setBaggageMember(h, "lane", "gray")).toBe("userId=alice,  lane=gray, sessionId=a%2Cb;p");
  });

  it("replaces duplicates of the key with one member", () => {
    expect(setBaggageMember("lane=a,x=1,lane=b", "lane", "gray")).toBe("lane=gray,x=1");
  });

  it("percent-encodes values", () => {
    expect(setBaggageMember(undefined, "k", "a b,c")).toBe("k=a%20b%2Cc");
    expect(getBaggageMember("k=a%20b%2Cc", "k")).toBe("a b,c");
  });

  it("removes a member and leaves the rest untouched", () => {
    expect(removeBaggageMember("a=1, lane=gray ,b=2", "lane")).toBe("a=1,b=2");
    expect(removeBaggageMember("a=1", "lane")).toBe("a=1");
  });

  it("does not break the W3C limits", () => {
    const many = Array.from({ length: BAGGAGE_MAX_MEMBERS }, (_, i) => `k${i}=v`).join(",");
    expect(setBaggageMember(many, "lane", "gray")).toBe(many);
    const big = `k=${"x".repeat(BAGGAGE_MAX_BYTES - 4)}`;
    expect(setBaggageMember(big, "lane", "gray")).toBe(big);
  });

  it("reads members with properties", () => {
    expect(getBaggageMember("a=1;p=2, lane = gray ;q", "lane")).toBe("gray");
    expect(getBaggageMember(undefined, "lane")).toBeUndefined();
  });
});

describe("lane labels on the upstream header array", () => {
  it("sets resolved lane labels and removes unresolved ones, folding repeated baggage headers", () => {
    const h = ["accept", "*/*", "baggage", "user=alice,x-lane=prod", "Baggage", "other=1"];
    setLaneBaggage(h, ["x-lane", "tenant"], { "x-lane": "gray" });
    expect(h).toEqual(["accept", "*/*", "baggage", "user=alice,x-lane=gray,other=1"]);
  });

  it("adds a baggage header when there was none, and drops it when it becomes empty", () => {
    const a: string[] = [];
    setLaneBaggage(a, ["x-lane"], { "x-lane": "gray" });
    expect(a).toEqual(["baggage", "x-lane=gray"]);
    const b = ["baggage", "x-lane=prod"];
    setLaneBaggage(b, ["x-lane"], {});
    expect(b).toEqual([]);
  });

  it("does nothing when no label is attached to baggage", () => {
    const h = ["baggage", "x-lane=prod"];
    setLaneBaggage(h, [], { "x-lane": "gray" });
    expect(h).toEqual(["baggage", "x-lane=prod"]);
  });
});

describe("removeBaggageMemberVariants", () => {
  it("removes the key in any case and with _ for -, keeping other members byte for byte", () => {
    const h = "a=1,X-Asm-Prefer-Tag=gray, x_asm_prefer_tag = dev;p=1,x-asm-prefer-tag=v,b=2";
    expect(removeBaggageMemberVariants(h, "x-asm-prefer-tag")).toBe("a=1,b=2");
    expect(removeBaggageMemberVariants("a=1, b=2", "x-asm-prefer-tag")).toBe("a=1, b=2");
  });
});
