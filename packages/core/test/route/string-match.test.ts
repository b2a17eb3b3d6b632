import { describe, expect, it } from "vitest";
import type { StringMatch } from "../../src/index.js";
import { compileStringMatch } from "../../src/route/string-match.js";

const test = (m: StringMatch, v: string, ignoreCase = false) => compileStringMatch(m, ignoreCase)(v);

describe("compileStringMatch", () => {
  it("exact compares the whole value, case-sensitively unless asked", () => {
    expect(test({ kind: "exact", value: "/productpage" }, "/productpage")).toBe(true);
    expect(test({ kind: "exact", value: "/productpage" }, "/productpage/")).toBe(false);
    expect(test({ kind: "exact", value: "/productpage" }, "/ProductPage")).toBe(false);
    expect(test({ kind: "exact", value: "/productpage" }, "/ProductPage", true)).toBe(true);
    expect(test({ kind: "exact", value: "/productpage" }, "/productpagE/", true)).toBe(false);
  });

  it("prefix compares the start", () => {
    expect(test({ kind: "prefix", value: "/static" }, "/static/css/a.css")).toBe(true);
    expect(test({ kind: "prefix", value: "/static" }, "/static")).toBe(true);
    expect(test({ kind: "prefix", value: "/static" }, "/stat")).toBe(false);
    expect(test({ kind: "prefix", value: "/static" }, "/STATIC/x")).toBe(false);
    expect(test({ kind: "prefix", value: "/Static" }, "/sTATIC/x", true)).toBe(true);
    expect(test({ kind: "prefix", value: "" }, "anything")).toBe(true);
  });

  it("regex must match the whole value (RE2 full match)", () => {
    const m: StringMatch = { kind: "regex", value: "/reviews/[0-9]+" };
    expect(test(m, "/reviews/12")).toBe(true);
    expect(test(m, "/reviews/12/x")).toBe(false);
    expect(test(m, "x/reviews/12")).toBe(false);
    // Alternation is grouped before anchoring: `a|b` does not become `^a|b$`.
    const alt: StringMatch = { kind: "regex", value: "jason|alice" };
    expect(test(alt, "jason")).toBe(true);
    expect(test(alt, "alice")).toBe(true);
    expect(test(alt, "jasonx")).toBe(false);
    expect(test(alt, "xalice")).toBe(false);
    expect(test({ kind: "regex", value: "/A.*" }, "/abc", true)).toBe(true);
  });

  it("present matches any value, even an empty one", () => {
    expect(test({ kind: "present" }, "")).toBe(true);
    expect(test({ kind: "present" }, "x")).toBe(true);
  });
});
