/**
 * The one upstream every scenario ends at: a minimal keep-alive node:http server in its own
 * process. `/large` answers a ~16 KiB JSON body, anything else a ~100-byte JSON body. When the
 * request asks for it (`x-bench-echo: 1`, only the lane scenario's check does), the lane label
 * header it carries (`trafficlabel`, as the sidecar attaches it) comes back as `x-bench-lane`, so
 * the harness can check lane routing worked; the load itself gets the same response everywhere.
 *
 *   node bench/dist/upstream.js [--port 0]      # prints "LISTENING <port>"
 */
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { distScript } from "./paths.js";
import { type Child, startChild, waitListening } from "./proc.js";

/** Header the lane scenario's label travels in (label `trafficLabel`, lower-cased). */
export const LANE_HEADER = "trafficlabel";
/** Request header asking the upstream to echo the lane label as `x-bench-lane`. */
export const ECHO_HEADER = "x-bench-echo";

const SMALL = Buffer.from(
  JSON.stringify({
    id: 1,
    name: "The Comedy of Errors",
    lane: "any",
    reviews: [{ reviewer: "Reviewer1", stars: 5 }],
  }),
);
const LARGE = Buffer.from(JSON.stringify({ id: 2, text: "x".repeat(16 * 1024 - 24) }));

export function serveUpstream(port: number): Promise<number> {
  const server = createServer((req, res) => {
    const body = req.url === "/large" ? LARGE : SMALL;
    if (req.headers[ECHO_HEADER] !== undefined) {
      const lane = req.headers[LANE_HEADER];
      if (typeof lane === "string") res.setHeader("x-bench-lane", lane);
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  });
  // Proxies keep pooled connections open between phases: do not close them under their feet.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  server.maxRequestsPerSocket = 0;
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : port);
    });
  });
}

export interface Upstream {
  port: number;
  url: string;
  child: Child;
}

/** Starts the upstream as a child process. */
export async function startUpstream(): Promise<Upstream> {
  const child = startChild("upstream", process.execPath, [distScript("upstream.js"), "--port", "0"]);
  const port = await waitListening(child);
  return { port, url: `http://127.0.0.1:${port}`, child };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--port");
  void serveUpstream(i >= 0 ? Number(process.argv[i + 1]) : 0).then((port) => {
    process.stdout.write(`LISTENING ${port}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
