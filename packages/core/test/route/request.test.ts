import { describe, expect, it } from "vitest";
import { headerGetter } from "../../src/index.js";

describe("headerGetter", () => {
  it("reads lower-case names, joining repeated values with a comma", () => {
    const h = headerGetter({ "End-User": "jason", "x-multi": ["a", "b"], absent: undefined });
    expect(h("end-user")).toBe("jason");
    expect(h("x-multi")).toBe("a, b");
    expect(h("absent")).toBeUndefined();
    expect(h("End-User")).toBeUndefined();
  });

  it("merges names that differ only in case", () => {
    expect(headerGetter({ "X-A": "1", "x-a": "2" })("x-a")).toBe("1, 2");
  });

  it("knows nothing of Object.prototype: such names are ordinary headers", () => {
    expect(headerGetter({})("constructor")).toBeUndefined();
    expect(headerGetter({})("__proto__")).toBeUndefined();
    const h = headerGetter({ constructor: "c", ["__proto__"]: "p" });
    expect(h("constructor")).toBe("c");
    expect(h("__proto__")).toBe("p");
  });
});
