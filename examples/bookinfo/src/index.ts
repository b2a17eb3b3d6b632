/** The Bookinfo lanes example: the services (for tests and the demo runner) and the topology. */

export type * from "./services/api-types.js";
export { parseServiceOptions, type ServiceOptions } from "./services/options.js";
export { FORWARDED_HEADERS, TRACE_HEADERS } from "./services/propagation.js";
export { DEFINITIONS, type RunningService, startService } from "./services/server.js";
export * from "./topology.js";
