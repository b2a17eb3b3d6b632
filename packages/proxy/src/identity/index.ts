/** Workload identity: SPIFFE IDs, the identity files and their rotation, and `lanecar ca`. */
export { CaError, type IssueOptions, initCa, issueWorkload, selfSignedWorkload } from "./ca.js";
export { type Credential, CredentialError, CredentialStore, loadCredentialFiles } from "./credentials.js";
export {
  checkIdentityParts,
  DEFAULT_TRUST_DOMAIN,
  formatSpiffeId,
  parseSpiffeId,
  type SpiffeIdentity,
  uriSans,
} from "./spiffe.js";
export {
  IdentityError,
  type IdentityStatus,
  IdentityWatcher,
  loadWorkloadCert,
  type WorkloadCert,
} from "./workload-identity.js";
