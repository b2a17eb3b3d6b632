import { describe, expect, it } from "vitest";
import {
  CLUSTER_DOMAIN,
  fqdn,
  HostIndex,
  hostMatches,
  requestHostCandidates,
  splitAuthority,
} from "../../src/index.js";

describe("fqdn", () => {
  it("expands only names without a dot, in the config's namespace", () => {
    expect(CLUSTER_DOMAIN).toBe("cluster.local");
    expect(fqdn("reviews", "default")).toBe("reviews.default.svc.cluster.local");
    expect(fqdn("Reviews", "prod")).toBe("reviews.prod.svc.cluster.local");
    expect(fqdn("reviews.default.svc.cluster.local.", "x")).toBe("reviews.default.svc.cluster.local");
    expect(fqdn("api.example.com", "default")).toBe("api.example.com");
    expect(fqdn("*", "default")).toBe("*");
    expect(fqdn("*.example.com", "default")).toBe("*.example.com");
  });
});

describe("splitAuthority", () => {
  it.each([
    ["reviews", "reviews", undefined],
    ["reviews:9080", "reviews", 9080],
    ["Reviews.Default:9080", "reviews.default", 9080],
    ["reviews.default.svc.cluster.local.:80", "reviews.default.svc.cluster.local", 80],
    ["[::1]:8080", "::1", 8080],
    ["[::1]", "::1", undefined],
    ["reviews:0", "reviews", undefined],
    ["reviews:65536", "reviews", undefined],
    ["reviews:abc", "reviews", undefined],
    ["reviews:", "reviews", undefined],
  ])("%s", (authority, host, port) => {
    expect(splitAuthority(authority)).toEqual({ host, port });
  });
});

describe("requestHostCandidates", () => {
  it("lists the FQDNs a request host may mean, most specific first", () => {
    expect(requestHostCandidates("reviews", "default")).toEqual(["reviews.default.svc.cluster.local"]);
    expect(requestHostCandidates("reviews", "prod")).toEqual(["reviews.prod.svc.cluster.local"]);
    expect(requestHostCandidates("reviews.other", "default")).toEqual([
      "reviews.other",
      "reviews.other.svc.cluster.local",
    ]);
    expect(requestHostCandidates("reviews.other.svc", "default")).toEqual([
      "reviews.other.svc",
      "reviews.other.svc.cluster.local",
    ]);
    expect(requestHostCandidates("reviews.other.svc.cluster.local", "default")).toEqual([
      "reviews.other.svc.cluster.local",
    ]);
    expect(requestHostCandidates("api.example.com", "default")).toEqual(["api.example.com"]);
  });
});

describe("hostMatches / HostIndex", () => {
  it("matches exact hosts, suffix wildcards and *", () => {
    expect(hostMatches("*", "anything")).toBe(true);
    expect(hostMatches("*.example.com", "api.example.com")).toBe(true);
    expect(hostMatches("*.example.com", "example.com")).toBe(false);
    expect(hostMatches("api.example.com", "api.example.com")).toBe(true);
    expect(hostMatches("api.example.com", "www.example.com")).toBe(false);
  });

  it("looks up exact first, then the longest wildcard suffix, then *; first set wins", () => {
    const ix = new HostIndex<string>();
    ix.set("*", "any");
    ix.set("*.com", "com");
    ix.set("*.example.com", "example");
    ix.set("api.example.com", "api");
    ix.set("api.example.com", "api-later");
    ix.set("*.example.com", "example-later");
    ix.set("*", "any-later");
    expect(ix.get("api.example.com")).toBe("api");
    expect(ix.get("www.example.com")).toBe("example");
    expect(ix.get("foo.com")).toBe("com");
    expect(ix.get("localhost")).toBe("any");
    expect(ix.has("api.example.com")).toBe(true);
    expect(ix.has("www.example.com")).toBe(false);
    expect(ix.values().sort()).toEqual(["any", "api", "com", "example"]);
  });
});
