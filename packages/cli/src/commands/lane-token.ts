/**
 * `lanecar lane-token`: mints a signed lane token for testers. The gateway started with the same
 * `--lane-token-key-file` admits the lane the token names until it expires, without opening the
 * lane to every client that sends the lane header.
 */
import { parseDuration } from "@lanecar/core";
import { LANE_TOKEN_HEADER, LaneTokenKeyError, loadLaneTokenKey, mintLaneToken } from "@lanecar/proxy";
import { bool, type FlagSpec, one, parseArgs, UsageError, usage } from "../args.js";
import type { Io } from "../io.js";

const FLAGS: FlagSpec[] = [
  { name: "key-file", help: "the gateway's --lane-token-key-file" },
  { name: "label", default: "x-asm-prefer-tag", help: "the lane label (TrafficLabel label name)" },
  { name: "lane", help: "the lane to grant, e.g. gray" },
  { name: "ttl", default: "1h", help: "how long the token is valid" },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

export async function laneTokenCommand(argv: string[], io: Io, now = Date.now()): Promise<number> {
  const a = parseArgs(argv, FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(usage("lane-token", "--key-file FILE --lane LANE [--label NAME] [--ttl 1h]", FLAGS));
    return 0;
  }
  const keyFile = one(a, "key-file");
  const lane = one(a, "lane");
  if (!keyFile || !lane) throw new UsageError("lane-token needs --key-file FILE and --lane LANE");
  const ttl = parseDuration(one(a, "ttl")!);
  if (ttl === undefined || ttl <= 0)
    throw new UsageError(`--ttl "${one(a, "ttl")}" is not a positive duration such as 1h`);
  let key: Buffer;
  try {
    key = loadLaneTokenKey(keyFile);
  } catch (err) {
    if (err instanceof LaneTokenKeyError) throw new UsageError(err.message);
    throw err;
  }
  let token: string;
  try {
    token = mintLaneToken(key, one(a, "label")!, lane, (now + ttl) / 1000);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  io.out(token);
  io.err(`send it as: ${LANE_TOKEN_HEADER}: ${token}`);
  return 0;
}
