/** Raw TCP clients for input that is not valid HTTP, and readers of what came back. */
import { connect, type Socket } from "node:net";

export interface RawResult {
  /** Everything the server sent. */
  data: string;
  /** The server closed the connection (FIN or reset) before the wait ended. */
  closed: boolean;
  ms: number;
}

/**
 * Sends `bytes` on a new connection and collects the answer until the server closes the
 * connection or `waitMs` passes.
 */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 2000): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const s = connect({ host: "127.0.0.1", port, noDelay: true });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(chunks).toString("latin1"), closed, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on("data", (c) => chunks.push(c));
    s.on("close", () => finish(true));
    s.on("error", () => finish(true));
    s.write(bytes);
  });
}

/** Status codes of the responses in `data`, in order. */
export function statuses(data: string): number[] {
  return [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, noDelay: true }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Resolves when the socket closes, or with false after `ms`. */
export function closedWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.once("close", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** A small deterministic PRNG (mulberry32) for seedable fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
