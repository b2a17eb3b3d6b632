/**
 * Reference peer: the smallest proxy of the shape DESIGN.md asks Lanecar to have — a node:http
 * server forwarding `rawHeaders` through one undici Pool with `dispatch()` and a handler object,
 * streaming the body. No routing, no labels: the floor a Node proxy pays for the two hops.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Pool } from "undici";
import { announce, peerArgs } from "./peer-args.js";

const { port, target } = peerArgs();
const pool = new Pool(target, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

function forwardHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

class Forward {
  private resume: (() => void) | undefined;
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}
  onConnect(abort: (err?: Error) => void): void {
    this.req.once("close", () => {
      if (!this.res.writableEnded) abort();
    });
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!.toString("latin1");
      if (!HOP.has(k.toLowerCase())) headers.push(k, raw[i + 1]!.toString("latin1"));
    }
    this.res.writeHead(status, headers);
    this.resume = resume;
    return true;
  }
  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    // Backpressure: undici pauses the upstream socket until the client drains.
    this.res.once("drain", this.resume!);
    return false;
  }
  onComplete(): void {
    this.res.end();
  }
  onError(): void {
    if (!this.res.headersSent) this.res.writeHead(502, { "content-type": "text/plain" });
    this.res.end("bad gateway");
  }
}

const server = createServer((req, res) => {
  pool.dispatch(
    {
      method: req.method as "GET",
      path: req.url ?? "/",
      headers: forwardHeaders(req.rawHeaders),
      body: req.method === "GET" || req.method === "HEAD" ? null : req,
    },
    new Forward(req, res),
  );
});
server.keepAliveTimeout = 120_000;
server.listen(port, "127.0.0.1", () => announce(server));
