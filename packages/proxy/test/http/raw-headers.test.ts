import { describe, expect, it } from "vitest";
import { copyRequestHeaders, copyResponseHeaders, rawHeader } from "../../src/http/raw-headers.js";

describe("raw headers", () => {
  const raw = [
    "Host",
    "a:1",
    "X-Request-Id",
    "r1",
    "Accept",
    "a",
    "accept",
    "b",
    "Connection",
    "keep-alive, X-Secret",
    "X-Secret",
    "s",
    "Keep-Alive",
    "5",
  ];

  it("reads a header case-insensitively and joins repeated values", () => {
    expect(rawHeader(raw, "x-request-id")).toBe("r1");
    expect(rawHeader(raw, "accept")).toBe("a, b");
    expect(rawHeader(raw, "missing")).toBeUndefined();
  });

  it("drops hop-by-hop headers, headers named by Connection, host and the given names", () => {
    const out = copyRequestHeaders(raw, new Set(["accept"]));
    expect(out).toEqual(["X-Request-Id", "r1"]);
  });

  it("keeps everything else in order and case", () => {
    expect(copyRequestHeaders(["A", "1", "b", "2", "A", "3"], undefined)).toEqual([
      "A",
      "1",
      "b",
      "2",
      "A",
      "3",
    ]);
  });

  it("filters response hop-by-hop headers and those Connection names", () => {
    const r = [
      "Content-Type",
      "x",
      "Connection",
      "close, X-Hop",
      "X-Hop",
      "1",
      "Transfer-Encoding",
      "chunked",
      "X-Keep",
      "2",
    ];
    expect(copyResponseHeaders(r)).toEqual(["Content-Type", "x", "X-Keep", "2"]);
  });

  it("removes headers named in any of several Connection fields (found by the differential test)", () => {
    const r = ["Connection", "x-a", "X-A", "1", "Connection", "close", "X-Keep", "2"];
    expect(copyResponseHeaders(r)).toEqual(["X-Keep", "2"]);
    expect(
      copyRequestHeaders(
        ["Connection", "x-b", "X-B", "1", "Connection", "keep-alive, x-c", "X-C", "2", "Y", "3"],
        undefined,
      ),
    ).toEqual(["Y", "3"]);
  });
});
