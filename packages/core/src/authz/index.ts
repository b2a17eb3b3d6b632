/** Authorization and peer authentication (security.istio.io): pure decisions for one workload. */
export {
  type AuthorizationPolicySpec,
  Authorizer,
  type AuthzAction,
  type AuthzDecision,
  type AuthzRequest,
  type NamedPolicy,
  policyApplies,
  principalNamespace,
  ROOT_NAMESPACE,
  type Workload,
} from "./authorization-policy.js";
export { type AuthzProblem, checkAuthorizationPolicy } from "./authorization-policy-check.js";
export {
  checkPeerAuthentication,
  type MtlsDecision,
  type MtlsMode,
  mtlsModeFor,
  type PeerAuthenticationSpec,
  type PeerAuthProblem,
} from "./peer-authentication.js";
