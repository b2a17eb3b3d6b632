import { describe, expect, it } from "vitest";
import { loadSnapshot } from "../src/index.js";

describe("smoke", () => {
  it("loads the ASM fixture", () => {
    const r = loadSnapshot([new URL("./fixtures/asm", import.meta.url).pathname]);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.snapshot).toBeDefined();
  });
});
