/**
 * What the Kubernetes API fake serves: the object shape, the resource types (core Pods and
 * Services, EndpointSlices, the Istio networking and security CRDs in the versions a test
 * chooses, the ASM TrafficLabel) and the
 * `Status` objects errors are reported with.
 */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ResourceType {
  group: string; // "" for the core group
  versions: string[];
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
}

export const BUILTIN_TYPES: ResourceType[] = [
  {
    group: "",
    versions: ["v1"],
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    shortNames: ["po"],
  },
  {
    group: "",
    versions: ["v1"],
    plural: "services",
    singular: "service",
    kind: "Service",
    namespaced: true,
    shortNames: ["svc"],
  },
  {
    group: "",
    versions: ["v1"],
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    shortNames: ["ns"],
  },
  {
    group: "discovery.k8s.io",
    versions: ["v1"],
    plural: "endpointslices",
    singular: "endpointslice",
    kind: "EndpointSlice",
    namespaced: true,
  },
];

/**
 * The Istio and ASM kinds as CRDs; `istioVersions` picks what the fake serves for
 * networking.istio.io, `securityVersions` for security.istio.io (none: Istio before the kinds).
 */
export function crdTypes(
  istioVersions: string[] = ["v1", "v1beta1", "v1alpha3"],
  securityVersions: string[] = ["v1", "v1beta1"],
): ResourceType[] {
  const sec = (kind: string, plural: string, short: string): ResourceType => ({
    group: "security.istio.io",
    versions: securityVersions,
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced: true,
    shortNames: [short],
  });
  const net = (kind: string, plural: string): ResourceType => ({
    group: "networking.istio.io",
    versions: istioVersions,
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced: true,
  });
  return [
    net("VirtualService", "virtualservices"),
    net("DestinationRule", "destinationrules"),
    net("Gateway", "gateways"),
    net("ServiceEntry", "serviceentries"),
    net("WorkloadEntry", "workloadentries"),
    net("WorkloadGroup", "workloadgroups"),
    {
      group: "istio.alibabacloud.com",
      versions: ["v1beta1", "v1"],
      plural: "trafficlabels",
      singular: "trafficlabel",
      kind: "TrafficLabel",
      namespaced: true,
    },
    ...(securityVersions.length > 0
      ? [
          sec("PeerAuthentication", "peerauthentications", "pa"),
          sec("AuthorizationPolicy", "authorizationpolicies", "ap"),
        ]
      : []),
  ];
}

/** A `Status` object, as the API server reports errors (404, 410 Expired, ...). */
export function status(code: number, reason: string, message: string): object {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}
