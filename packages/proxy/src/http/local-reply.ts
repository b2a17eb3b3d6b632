/**
 * Responses Lanecar writes itself (SPEC section 8): plain-text body and an Envoy-style response
 * flag in `x-lanecar-flags`, so every failure can be explained.
 */
import type { DownstreamStream } from "../http/downstream.js";

export type ResponseFlag =
  | "NR"
  | "UH"
  | "UF"
  | "UO"
  | "UT"
  | "FI"
  | "UC"
  | "URX"
  | "DC"
  | "DPE"
  | "RL"
  | "RBAC"
  | "";

export const LOCAL_REPLIES = {
  NR: { status: 404, body: "no route" },
  UH: { status: 503, body: "no healthy upstream" },
  UF: {
    status: 503,
    body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
  },
  UC: {
    status: 503,
    body: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
  },
  UO: { status: 503, body: "upstream overflow" },
  UT: { status: 504, body: "upstream request timeout" },
} as const;

export function sendLocalReply(
  res: DownstreamStream,
  status: number,
  flag: ResponseFlag,
  body: string,
  extra?: readonly string[],
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = [
    "content-type",
    "text/plain",
    "content-length",
    String(Buffer.byteLength(body)),
    "x-lanecar-flags",
    flag || "-",
  ];
  if (extra) headers.push(...extra);
  res.writeHead(status, undefined, headers);
  res.end(body);
}

export function sendFlag(res: DownstreamStream, flag: keyof typeof LOCAL_REPLIES): void {
  const r = LOCAL_REPLIES[flag];
  sendLocalReply(res, r.status, flag, r.body);
}
