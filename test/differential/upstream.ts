/**
 * The differential test's upstream: a raw TCP server that parses what it receives with the strict
 * parser, records every request (with the connection it came on) and answers `/d/<run>/<i>`
 * with the response the scenario planned for it. Bytes that do not parse are recorded as errors.
 */
import { createServer, type Server, type Socket } from "node:net";
import { type Exchange, responseBytes } from "./scenario.js";
import { type Message, parseMessage } from "./strict-http1.js";

export interface Received {
  run: number;
  index: number;
  message: Message;
  conn: number;
}

/** A raw upstream answering `/d/<run>/<i>` with the response the scenario planned for it. */
export class Upstream {
  port = 0;
  readonly received: Received[] = [];
  readonly errors: string[] = [];
  /** Bytes of each connection not (yet) parsed as a complete request. */
  readonly pending: number[] = [];
  readonly plans = new Map<number, Exchange[]>();
  private readonly sockets: Socket[] = [];
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  private accept(socket: Socket): void {
    const conn = this.sockets.push(socket) - 1;
    this.pending.push(0);
    let buf = Buffer.alloc(0);
    let done = false;
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      // After closing its side (a response without framing) a server reads no more requests:
      // a proxy that reused the connection meanwhile must send its request again elsewhere.
      if (done) return;
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const step = parseMessage(buf, "request");
        if (step.kind === "incomplete") break;
        if (step.kind === "error") {
          this.errors.push(
            `connection ${conn}: ${step.reason}: ${JSON.stringify(buf.toString("latin1").slice(0, 300))}`,
          );
          socket.destroy();
          buf = Buffer.alloc(0);
          break;
        }
        buf = buf.subarray(step.used);
        const m = step.message;
        const id = /^\/d\/(\d+)\/(\d+)/.exec(m.target);
        const plan = id ? this.plans.get(Number(id[1]))?.[Number(id[2])] : undefined;
        if (!id || !plan) {
          this.errors.push(`connection ${conn}: unplanned request ${m.method} ${m.target}`);
          socket.destroy();
          break;
        }
        this.received.push({ run: Number(id[1]), index: Number(id[2]), message: m, conn });
        const bytes = responseBytes(plan.response, m.method);
        if (plan.response.framing === "close") {
          socket.end(bytes, "latin1");
          done = true;
          buf = Buffer.alloc(0);
          break;
        }
        socket.write(bytes, "latin1");
      }
      this.pending[conn] = buf.length;
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
