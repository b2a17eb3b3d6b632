/** Authorization and peer authentication (security.istio.io): pure decisions for one workload. */
export {
  type AuthorizationPolicySpec,
  Authorizer,
  type AuthzAction,
  type AuthzDecision,
  type AuthzProblem,
  type AuthzRequest,
  checkAuthorizationPolicy,
  type NamedPolicy,
  policyApplies,
  principalNamespace,
  ROOT_NAMESPACE,
  type Workload,
} from "./authorization-policy.js";
export {
  checkPeerAuthentication,
  type MtlsDecision,
  type MtlsMode,
  mtlsModeFor,
  type PeerAuthenticationSpec,
  type PeerAuthProblem,
} from "./peer-authentication.js";
