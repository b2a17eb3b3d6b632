/**
 * Kubernetes objects as the API server stores them, for the discovery tests and the scale bench:
 * Services, EndpointSlices (endpoints with conditions and `targetRef` pods), Pods, and the
 * Istio / ASM CRD objects of the lanes walkthrough.
 */
import type { KubeObject } from "./kube-api-fake.js";

export function service(name: string, ns = "default", port = 9080): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      type: "ClusterIP",
      selector: { app: name },
      ports: [{ name: "http", port, targetPort: port, protocol: "TCP" }],
    },
  };
}

/** A running pod; `serviceAccount` is what admission fills in when the manifest names none. */
export function pod(
  name: string,
  ns: string,
  labels: Record<string, string>,
  ip = "127.0.0.1",
  serviceAccount = "default",
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels },
    spec: { serviceAccountName: serviceAccount, containers: [{ name: "app", image: "bookinfo" }] },
    status: { phase: "Running", podIP: ip },
  };
}

export interface SliceEndpoint {
  ip: string;
  pod: string;
  ready?: boolean;
  terminating?: boolean;
}

/** An EndpointSlice of `svc`; every endpoint of one slice shares `port` (as in Kubernetes). */
export function slice(
  svc: string,
  name: string,
  port: number,
  endpoints: SliceEndpoint[],
  ns = "default",
): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace: ns,
      labels: {
        "kubernetes.io/service-name": svc,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      },
    },
    addressType: "IPv4",
    ports: [{ name: "http", port, protocol: "TCP" }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: e.terminating ?? false },
      targetRef: { kind: "Pod", name: e.pod, namespace: ns },
    })),
  };
}

export const LANES_TRAFFIC_LABEL = (ns = "default"): KubeObject => ({
  apiVersion: "istio.alibabacloud.com/v1beta1",
  kind: "TrafficLabel",
  metadata: { name: "lanes", namespace: ns },
  spec: {
    rules: [
      {
        labels: [
          {
            name: "x-asm-prefer-tag",
            valueFrom: [
              "$getInboundRequestHeader(x-asm-prefer-tag)",
              "$getContext(x-request-id)",
              "$localLabel",
            ],
          },
        ],
        attachTo: ["opentracing"],
      },
    ],
  },
});

export function destinationRule(host: string, ns = "default", version = "v1"): KubeObject {
  return {
    apiVersion: `networking.istio.io/${version}`,
    kind: "DestinationRule",
    metadata: { name: host, namespace: ns },
    spec: {
      host,
      subsets: [
        { name: "prod", labels: { ASM_TRAFFIC_TAG: "prod" } },
        { name: "gray", labels: { ASM_TRAFFIC_TAG: "gray" } },
      ],
    },
  };
}

/** `subset: $x-asm-prefer-tag` falling back to prod (noinstances and noavailabled). */
export function laneVirtualService(host: string, ns = "default", version = "v1"): KubeObject {
  return {
    apiVersion: `networking.istio.io/${version}`,
    kind: "VirtualService",
    metadata: { name: host, namespace: ns },
    spec: {
      hosts: [host],
      http: [
        {
          route: [
            {
              destination: { host, subset: "$x-asm-prefer-tag" },
              fallback: { case: "noinstances|noavailabled", target: { host, subset: "prod" } },
            },
          ],
        },
      ],
    },
  };
}

export function edgeGateway(ns = "default"): KubeObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "edge", namespace: ns },
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
    },
  };
}

/**
 * The edge VirtualService: every host to `host`'s lane, falling back to prod. Testers choose a
 * lane with the lane header; the gateway honours a client's lane header only where a match
 * grants it, so the first route matches it.
 */
export function edgeVirtualService(host: string, ns = "default"): KubeObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "edge", namespace: ns },
    spec: {
      hosts: ["*"],
      gateways: ["edge"],
      http: [
        {
          name: "lane-from-header",
          match: [{ headers: { "x-asm-prefer-tag": { regex: "[a-z0-9-]+" } } }],
          route: [
            {
              destination: { host, subset: "$x-asm-prefer-tag" },
              fallback: { case: "noinstances|noavailabled", target: { host, subset: "prod" } },
            },
          ],
        },
        {
          name: "default",
          route: [
            {
              destination: { host, subset: "$x-asm-prefer-tag" },
              fallback: { case: "noinstances|noavailabled", target: { host, subset: "prod" } },
            },
          ],
        },
      ],
    },
  };
}
