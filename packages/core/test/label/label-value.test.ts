import { describe, expect, it } from "vitest";
import { isValidLabelValue } from "../../src/index.js";

describe("isValidLabelValue", () => {
  it.each(["gray", "prod", "v1", "a", "A", "9", "gray-1", "lane_2.b", "a".repeat(63), "x".repeat(62) + "9"])(
    "accepts %j",
    (v) => {
      expect(isValidLabelValue(v)).toBe(true);
    },
  );

  it.each([
    ["empty", ""],
    ["64 chars", "a".repeat(64)],
    ["space inside", "gr ay"],
    ["leading space", " gray"],
    ["trailing space", "gray "],
    ["CR LF", "gray\r\nx-injected: 1"],
    ["LF", "gray\n"],
    ["tab", "gr\tay"],
    ["leading dash", "-gray"],
    ["trailing dot", "gray."],
    ["trailing underscore", "gray_"],
    ["comma (repeated header joined)", "gray, prod"],
    ["slash", "a/b"],
    ["non-ASCII", "灰度"],
    ["NUL", "gray\u0000"],
  ])("rejects %s", (_what, v) => {
    expect(isValidLabelValue(v)).toBe(false);
  });
});
