/** Absolute-form request targets split into authority and origin form (issue 11, item 3). */
import { describe, expect, it } from "vitest";
import { sameAuthority, splitAbsoluteForm } from "../../src/http/target.js";

describe("splitAbsoluteForm", () => {
  it("splits authority and origin-form path", () => {
    expect(splitAbsoluteForm("http://a:8080/x/y?q=1")).toEqual({ authority: "a:8080", path: "/x/y?q=1" });
    expect(splitAbsoluteForm("HTTP://Svc")).toEqual({ authority: "Svc", path: "/" });
    expect(splitAbsoluteForm("http://svc?q")).toEqual({ authority: "svc", path: "/?q" });
  });
  it("is undefined for origin form, other schemes, no authority or userinfo", () => {
    for (const t of ["/x", "*", "https://a/x", "http:///x", "http://u@a/x", "ftp://a/"]) {
      expect(splitAbsoluteForm(t)).toBeUndefined();
    }
  });
});

describe("sameAuthority", () => {
  it("ignores case and the default port", () => {
    expect(sameAuthority("A", "a:80")).toBe(true);
    expect(sameAuthority("a:9080", "a:9080")).toBe(true);
    expect(sameAuthority("a", "b")).toBe(false);
    expect(sameAuthority("a:9080", "a")).toBe(false);
  });
});
