/**
 * Calls to other Bookinfo services by name (`http://reviews:9080/reviews/0`). With a proxy
 * (`HTTP_PROXY`, the sidecar's outbound listener) the request goes to the proxy in absolute form
 * (`GET http://reviews:9080/reviews/0 HTTP/1.1`, `Host: reviews:9080`); without one it goes to the
 * name directly (in a pod, iptables sends port 9080 to the sidecar). A failed call never throws:
 * it comes back as `error:<status>` (503 from a sidecar with no healthy upstream),
 * `error:unreachable`, `error:timeout` or `error:bad-response`, which pages show as they are.
 */
import { Agent, type ClientRequest, request } from "node:http";
import { SERVICE_PORT, type ServiceName } from "../topology.js";

export type CallResult<T> =
  | { ok: true; status: number; body: T }
  | {
      ok: false /** `error:503`, `error:unreachable`, ... */;
      error: string /** For people: status, proxy flag, body excerpt. */;
      detail: string;
    };

export interface DownstreamOptions {
  /** `HTTP_PROXY`; undefined = call the service name directly. */
  proxy: URL | undefined;
  /** Per call, connect to last byte (Bookinfo's productpage uses 3 s). */
  timeoutMs: number;
  /** Port services are called on (9080). */
  servicePort?: number;
}

const MAX_BODY = 1 << 20;

export class Downstream {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly servicePort: number;

  constructor(private readonly opts: DownstreamOptions) {
    this.servicePort = opts.servicePort ?? SERVICE_PORT;
  }

  /** `GET http://<service>:9080<path>` with `headers`; resolves with the parsed JSON body or an error. */
  getJson<T>(
    service: ServiceName,
    path: string,
    headers: Readonly<Record<string, string>>,
  ): Promise<CallResult<T>> {
    const authority = `${service}:${this.servicePort}`;
    const proxy = this.opts.proxy;
    const target = proxy
      ? {
          host: proxy.hostname.replace(/^\[|\]$/g, ""),
          port: Number(proxy.port || 80),
          path: `http://${authority}${path}`,
        }
      : { host: service, port: this.servicePort, path };
    const options = {
      ...target,
      method: "GET",
      agent: this.agent,
      headers: { ...headers, host: authority, accept: "application/json" },
    };
    return new Promise((resolve) => {
      let settled = false;
      let current: ClientRequest | undefined;
      const done = (r: CallResult<T>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        done({
          ok: false,
          error: "error:timeout",
          detail: `${authority} did not answer within ${this.opts.timeoutMs} ms`,
        });
        current?.destroy();
      }, this.opts.timeoutMs);
      const attempt = (retried: boolean) => {
        const req = request(options, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size <= MAX_BODY) chunks.push(c);
          });
          res.on("error", () =>
            done({ ok: false, error: "error:unreachable", detail: `${authority}: response aborted` }),
          );
          res.on("end", () =>
            done(
              toResult<T>(
                authority,
                res.statusCode ?? 0,
                res.headers["x-lanecar-flags"],
                Buffer.concat(chunks).toString("utf8"),
              ),
            ),
          );
        });
        current = req;
        req.on("error", (err: NodeJS.ErrnoException) => {
          // A kept-alive connection the proxy closed just as we reused it: the GET never reached
          // anyone, so send it once more on a fresh connection (Node's documented pattern).
          if (
            !retried &&
            !settled &&
            req.reusedSocket &&
            (err.code === "ECONNRESET" || err.code === "EPIPE")
          ) {
            attempt(true);
            return;
          }
          done({
            ok: false,
            error: "error:unreachable",
            detail: `${authority}${proxy ? ` via ${proxy.host}` : ""}: ${err.code ?? err.message}`,
          });
        });
        req.end();
      };
      attempt(false);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function toResult<T>(
  authority: string,
  status: number,
  flag: string | string[] | undefined,
  text: string,
): CallResult<T> {
  if (status < 200 || status > 299) {
    const excerpt = text.trim().slice(0, 120);
    return {
      ok: false,
      error: `error:${status}`,
      detail: `${authority} answered ${status}${flag ? ` (${String(flag)})` : ""}${excerpt ? `: ${excerpt}` : ""}`,
    };
  }
  try {
    return { ok: true, status, body: JSON.parse(text) as T };
  } catch {
    return {
      ok: false,
      error: "error:bad-response",
      detail: `${authority} answered ${status} with a body that is not JSON`,
    };
  }
}
