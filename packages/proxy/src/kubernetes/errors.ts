/**
 * Discovery's errors, in a module of their own so the CLI can recognise them without loading the
 * Kubernetes client (processes without `--discovery` never load it).
 */

/** A request to the API failed: `status` is the HTTP status when there was an answer. */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

/** Discovery could not start: a cluster unreadable in time, or the first config invalid. */
export class KubernetesSyncError extends Error {
  readonly code = "LANECAR_KUBERNETES_SYNC";
}
