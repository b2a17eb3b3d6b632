/**
 * Bounded closed-loop load on loopback for end-to-end tests: N workers send requests until
 * stopped (or a deadline), recording every status and failure. Keep-alive via undici.
 */
import { Agent, request } from "undici";

export interface LoadResult {
  sent: number;
  ok: number;
  statuses: Map<number, number>;
  errors: string[];
  bodies: string[];
}

export interface Load {
  stop(): Promise<LoadResult>;
  result: LoadResult;
}

export function startLoad(
  url: string,
  opts: {
    concurrency?: number;
    headers?: Record<string, string>;
    maxMs?: number;
    keepBodies?: boolean;
    method?: string;
  } = {},
): Load {
  const agent = new Agent({ connections: opts.concurrency ?? 4, keepAliveTimeout: 10_000 });
  const result: LoadResult = { sent: 0, ok: 0, statuses: new Map(), errors: [], bodies: [] };
  let running = true;
  const deadline = Date.now() + (opts.maxMs ?? 30_000);
  const worker = async () => {
    while (running && Date.now() < deadline) {
      result.sent++;
      try {
        const r = await request(url, {
          dispatcher: agent,
          headers: opts.headers,
          method: (opts.method ?? "GET") as "GET",
        });
        const body = await r.body.text();
        result.statuses.set(r.statusCode, (result.statuses.get(r.statusCode) ?? 0) + 1);
        if (r.statusCode === 200) result.ok++;
        else
          result.errors.push(`${r.statusCode} ${r.headers["x-lanecar-flags"] ?? ""} ${body.slice(0, 120)}`);
        if (opts.keepBodies) result.bodies.push(body);
      } catch (err) {
        result.errors.push(String((err as Error).message ?? err));
      }
    }
  };
  const workers = Array.from({ length: opts.concurrency ?? 4 }, worker);
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      await agent.close();
      return result;
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true or `ms` passes. */
export async function eventually(
  fn: () => Promise<boolean> | boolean,
  ms = 5000,
  step = 50,
): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fn()) return true;
    await sleep(step);
  }
  return fn();
}
