/** Every scenario, in the order the report lists them. */
import { direct } from "./direct.js";
import { haproxy } from "./haproxy.js";
import { lanecarChain } from "./lanecar-chain.js";
import { lanecarLanes, lanecarLanesFallback } from "./lanecar-lanes.js";
import { lanecarLanesChain, lanecarLanesMtls } from "./lanecar-lanes-mtls.js";
import { lanecarPassthrough } from "./lanecar-passthrough.js";
import { nginx, nginxChain } from "./nginx.js";
import { nginxSsl } from "./nginx-ssl.js";
import { fastifyHttpProxy, httpProxy, undiciDispatch } from "./node-peer.js";
import type { Scenario } from "./types.js";

export type { BenchContext, Running, Scenario, ScenarioKind } from "./types.js";

export const SCENARIOS: readonly Scenario[] = [
  direct,
  lanecarPassthrough,
  lanecarLanes,
  lanecarLanesFallback,
  lanecarLanesMtls,
  lanecarLanesChain,
  lanecarChain,
  nginxChain,
  nginxSsl,
  nginx,
  haproxy,
  undiciDispatch,
  fastifyHttpProxy,
  httpProxy,
];

export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
