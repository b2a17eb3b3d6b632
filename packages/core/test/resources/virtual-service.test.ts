import { describe, expect, it } from "vitest";
import { ids, load, report, warnings, yaml } from "./helpers.js";

/** A DestinationRule and ServiceEntry for reviews so that cross-resource checks stay quiet. */
const REVIEWS = yaml`
  ---
  apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews}
  spec:
    host: reviews
    subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
  ---
  apiVersion: networking.istio.io/v1
  kind: ServiceEntry
  metadata: {name: reviews}
  spec: {hosts: [reviews], ports: [{number: 9080, name: http}]}
`;

/** Diagnostics of a VirtualService given as the first document, with reviews defined after it. */
function vs(text: string): string[] {
  return report(text + REVIEWS, { file: "routes.yaml" });
}

describe("VirtualService: types and fields", () => {
  it("reports wrong types with what was found", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: reviews
        http:
          route: []
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:5:3 VirtualService/default/reviews: spec.hosts: must be a list, got a string",
      "routes.yaml:6:3 VirtualService/default/reviews: spec.http: must be a list, got a mapping",
    ]);
  });

  it("reports a non-integer weight and a non-boolean flag", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - match: [{uri: {prefix: /}, ignoreUriCase: "yes"}]
          route:
          - destination: {host: reviews, subset: v1}
            weight: 50.5
          - destination: {host: reviews, subset: v2}
            weight: "fifty"
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:7:32 VirtualService/default/reviews: spec.http[0].match[0].ignoreUriCase: must be true or false, got a string",
      "routes.yaml:10:7 VirtualService/default/reviews: spec.http[0].route[0].weight: must be an integer, got a number 50.5",
      "routes.yaml:12:7 VirtualService/default/reviews: spec.http[0].route[1].weight: must be an integer, got a string",
    ]);
  });

  it("rejects an unknown field and only warns for a known field Lanecar ignores", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        tcp: []
        http:
        - name: main
          corsPolicy: {allowOrigins: [{exact: "*"}]}
          timout: 10s
          route:
          - destination: {host: reviews, subset: v1}
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:6:3 VirtualService/default/reviews: spec.tcp: warning: not supported by Lanecar; ignored",
      "routes.yaml:9:5 VirtualService/default/reviews: spec.http[0].corsPolicy: warning: not supported by Lanecar; ignored",
      "routes.yaml:10:5 VirtualService/default/reviews: spec.http[0].timout: unknown field",
    ]);
  });

  it("keeps a VirtualService whose only findings are warnings", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - corsPolicy: {allowOrigins: [{exact: "*"}]}
          route: [{destination: {host: reviews, subset: v1}}]
    `;
    const r = load(text + REVIEWS);
    expect(warnings(r.diagnostics)).toHaveLength(1);
    expect(ids(r)).toContain("VirtualService/default/reviews");
  });

  it("reports an unknown string-match operator and more than one operator", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - match:
          - uri: {suffix: .json}
          - headers: {end-user: {exact: jason, prefix: j}}
          route: [{destination: {host: reviews, subset: v1}}]
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:8:13 VirtualService/default/reviews: spec.http[0].match[0].uri.suffix: unknown field (expected exact, prefix or regex)",
      "routes.yaml:9:17 VirtualService/default/reviews: spec.http[0].match[1].headers.end-user: must set only one of exact, prefix, regex; got exact, prefix",
    ]);
  });

  it("reports an unknown enum value and an unknown retry policy", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - redirect: {uri: /v2, scheme: ftp, derivePort: FROM_ANYWHERE}
        - route: [{destination: {host: reviews, subset: v1}}]
          retries: {attempts: 3, retryOn: "gateway-error,connect-failure,on-tuesdays"}
    `;
    expect(vs(text)).toEqual([
      'routes.yaml:7:26 VirtualService/default/reviews: spec.http[0].redirect.scheme: must be one of http, https; got "ftp"',
      'routes.yaml:7:39 VirtualService/default/reviews: spec.http[0].redirect.derivePort: must be one of FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT; got "FROM_ANYWHERE"',
      'routes.yaml:9:28 VirtualService/default/reviews: spec.http[1].retries.retryOn: unknown retry policy "on-tuesdays"',
    ]);
  });
});

describe("VirtualService: weights and actions", () => {
  it("reports a negative weight once, without a second complaint about the total", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: v1}
            weight: -20
          - destination: {host: reviews, subset: v2}
            weight: 0
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:9:7 VirtualService/default/reviews: spec.http[0].route[0].weight: must be >= 0",
    ]);
  });

  it("rejects all-zero weights with two or more destinations, at the route list", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - {destination: {host: reviews, subset: v1}, weight: 0}
          - {destination: {host: reviews, subset: v2}, weight: 0}
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:7:5 VirtualService/default/reviews: spec.http[0].route: weights must add up to more than 0",
    ]);
  });

  it("accepts weight 0 on a single destination, and missing weights split evenly", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - match: [{headers: {end-user: {exact: jason}}}]
          route: [{destination: {host: reviews, subset: v2}, weight: 0}]
        - route: [{destination: {host: reviews, subset: v1}}, {destination: {host: reviews, subset: v2}}]
    `;
    const r = load(text + REVIEWS);
    expect(r.diagnostics).toEqual([]);
    const spec = r.resources.find((x) => x.kind === "VirtualService")!.spec;
    expect("http" in spec && spec.http.map((h) => h.route.map((d) => d.weight))).toEqual([[100], [1, 1]]);
  });

  it("allows one action per rule", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - name: moved
          route: [{destination: {host: reviews, subset: v1}}]
          redirect: {uri: /reviews/v2}
        - name: nothing
          match: [{uri: {prefix: /old}}]
        - directResponse: {status: 503, body: {string: down}}
          redirect: {authority: elsewhere}
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:7:5 VirtualService/default/reviews: spec.http[0]: only one action per rule; got route and redirect",
      "routes.yaml:10:5 VirtualService/default/reviews: spec.http[1]: must set one of route, redirect, directResponse",
      "routes.yaml:12:5 VirtualService/default/reviews: spec.http[2]: only one action per rule; got redirect and directResponse",
    ]);
  });

  it("rejects rewrite together with redirect", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - redirect: {uri: /v2}
          rewrite: {uri: /v3}
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:8:5 VirtualService/default/reviews: spec.http[0].rewrite: cannot be used with redirect or directResponse",
    ]);
  });

  it("rejects an empty route list (an action, but no destination) and a mirror without route", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route: []
        - directResponse: {status: 200}
          mirror: {host: reviews, subset: v2}
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:7:5 VirtualService/default/reviews: spec.http[0].route: must not be empty",
      "routes.yaml:9:5 VirtualService/default/reviews: spec.http[1].mirror: requires route",
    ]);
  });
});

describe("VirtualService: regexes and durations", () => {
  it("reports each regex that does not compile with the engine's reason only", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - match:
          - uri: {regex: "/reviews/(\\d+"}
            headers:
              end-user: {regex: "[jason"}
            queryParams:
              page: {regex: "a{2,1}"}
          rewrite:
            uriRegexRewrite: {match: "*reviews", rewrite: /r}
          route: [{destination: {host: reviews, subset: v1}}]
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:8:13 VirtualService/default/reviews: spec.http[0].match[0].uri.regex: regex does not compile (RE2): missing closing ): `/reviews/(\\d+`",
      "routes.yaml:10:20 VirtualService/default/reviews: spec.http[0].match[0].headers.end-user.regex: regex does not compile (RE2): missing closing ]: `[jason`",
      "routes.yaml:12:16 VirtualService/default/reviews: spec.http[0].match[0].queryParams.page.regex: regex does not compile (RE2): invalid repeat count: `{2,1}`",
      "routes.yaml:14:25 VirtualService/default/reviews: spec.http[0].rewrite.uriRegexRewrite.match: regex does not compile (RE2): missing argument to repetition operator: `*`",
    ]);
  });

  it("accepts regexes that compile, and anchors them to the whole value", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - match: [{uri: {regex: "/reviews/[0-9]+"}, headers: {end-user: {regex: "jason|json"}}}]
          rewrite: {uriRegexRewrite: {match: "^/reviews/(.*)$", rewrite: "/\\1"}}
          route: [{destination: {host: reviews, subset: v1}}]
    `;
    const r = load(text + REVIEWS);
    expect(r.diagnostics).toEqual([]);
  });

  it("reports durations that do not parse, that are not strings, or are below Istio's minimum", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route: [{destination: {host: reviews, subset: v1}}]
          timeout: 10 seconds
          retries: {attempts: 2, perTryTimeout: 0s}
          fault:
            delay: {fixedDelay: 5, percentage: {value: 10}}
        - route: [{destination: {host: reviews, subset: v2}}]
          timeout: 1.5h
          retries: {attempts: 2, perTryTimeout: 250ms}
          fault:
            delay: {fixedDelay: 1m30s, percentage: {value: 101}}
    `;
    expect(vs(text)).toEqual([
      'routes.yaml:8:5 VirtualService/default/reviews: spec.http[0].timeout: "10 seconds" is not a duration (use e.g. "500ms", "10s", "1m")',
      "routes.yaml:9:28 VirtualService/default/reviews: spec.http[0].retries.perTryTimeout: must be >= 1ms",
      'routes.yaml:11:15 VirtualService/default/reviews: spec.http[0].fault.delay.fixedDelay: must be a duration such as "10s", got a number',
      "routes.yaml:16:47 VirtualService/default/reviews: spec.http[1].fault.delay.percentage.value: must be <= 100",
    ]);
  });
});

describe("VirtualService: lane extensions", () => {
  it("reports an unknown fallback case, keeping the known one", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: v2}
            fallback:
              case: noinstances|nohealthy
              target: {host: reviews, subset: v1}
    `;
    expect(vs(text)).toEqual([
      'routes.yaml:10:9 VirtualService/default/reviews: spec.http[0].route[0].fallback.case: unknown fallback case "nohealthy" (expected noinstances, noavailabled)',
    ]);
  });

  it("requires a fallback case and target host", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: v2}
            fallback:
              target: {subset: v1}
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:9:7 VirtualService/default/reviews: spec.http[0].route[0].fallback.case: is required",
      "routes.yaml:10:9 VirtualService/default/reviews: spec.http[0].route[0].fallback.target.host: is required",
    ]);
  });

  it("checks a $label subset template names a valid header", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route:
          - destination: {host: reviews, subset: "$lane tag"}
    `;
    expect(vs(text)).toEqual([
      'routes.yaml:8:36 VirtualService/default/reviews: spec.http[0].route[0].destination.subset: "$lane tag": label name must be a valid header name',
    ]);
  });

  it("rejects invalid hosts and a bare * outside a gateway", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: ["*", "reviews_svc"]
        http:
        - route: [{destination: {host: reviews, subset: v1}}]
    `;
    expect(vs(text)).toEqual([
      'routes.yaml:5:3 VirtualService/default/reviews: spec.hosts: "*" is only allowed for VirtualServices bound to a gateway',
      'routes.yaml:5:16 VirtualService/default/reviews: spec.hosts[1]: "reviews_svc" is not a valid host',
    ]);
  });

  it("rejects header operations that would inject CR/LF", () => {
    const text = yaml`
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews}
      spec:
        hosts: [reviews]
        http:
        - route: [{destination: {host: reviews, subset: v1}}]
          headers:
            request:
              set: {x-lane: "gray\r\nx-evil: 1", "bad header": v}
    `;
    expect(vs(text)).toEqual([
      "routes.yaml:10:15 VirtualService/default/reviews: spec.http[0].headers.request.set.x-lane: header value must not contain CR, LF or NUL",
      'routes.yaml:10:44 VirtualService/default/reviews: spec.http[0].headers.request.set.bad header: "bad header" is not a valid header name',
    ]);
  });
});
