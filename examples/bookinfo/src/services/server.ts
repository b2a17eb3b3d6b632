/**
 * Runs one Bookinfo service on node:http: `/health` (200) on every service, the service's own
 * routes, 404 for anything else, 500 (never a crash) when a handler fails. Every answer carries
 * `x-bookinfo-served-by: <service>-<version>`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ServiceName } from "../topology.js";
import { details } from "./details.js";
import { Downstream } from "./downstream.js";
import { FailureInjector } from "./failure-injection.js";
import { SERVED_BY_HEADER, sendJson, sendText } from "./http-kit.js";
import type { ServiceOptions } from "./options.js";
import { OptionsError } from "./options.js";
import { productpage } from "./productpage.js";
import { ratings } from "./ratings.js";
import { reviews } from "./reviews.js";
import type { ServiceContext, ServiceDefinition } from "./service-definition.js";

export const DEFINITIONS: Readonly<Record<ServiceName, ServiceDefinition>> = {
  productpage,
  details,
  reviews,
  ratings,
};

export interface RunningService {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** Starts a service; rejects on an unknown version or when the port cannot be bound. */
export async function startService(opts: ServiceOptions): Promise<RunningService> {
  const def = DEFINITIONS[opts.service];
  if (!Object.hasOwn(def.versions, opts.version)) {
    throw new OptionsError(
      `${opts.service} has no version "${opts.version}" (known: ${Object.keys(def.versions).join(", ")})`,
    );
  }
  const downstream = new Downstream({ proxy: opts.proxy, timeoutMs: opts.timeoutMs });
  const ctx: ServiceContext = {
    service: opts.service,
    version: opts.version,
    servedBy: `${opts.service}-${opts.version}`,
    downstream,
  };

  const failures = opts.failPercent ? new FailureInjector(opts.failPercent) : undefined;

  const server = createServer((req, res) => {
    res.setHeader(SERVED_BY_HEADER, ctx.servedBy);
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://app.local");
    } catch {
      sendText(res, 400, "bad request target");
      return;
    }
    if (url.pathname === "/health") {
      sendJson(res, 200, { status: "ok", service: ctx.service, version: ctx.version });
      return;
    }
    if (failures?.next()) {
      sendJson(res, 500, { error: "injected failure (FAIL_PERCENT)", served_by: ctx.servedBy });
      return;
    }
    def.handle(ctx, req, res, url).then(
      (handled) => {
        if (!handled && !res.headersSent) sendJson(res, 404, { error: `no such page: ${url.pathname}` });
      },
      (err: unknown) => {
        process.stderr.write(
          `${ctx.servedBy}: ${req.method} ${req.url}: ${err instanceof Error ? err.stack : String(err)}\n`,
        );
        if (!res.headersSent) sendText(res, 500, "internal error");
        else res.destroy();
      },
    );
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.bind, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.bind === "0.0.0.0" || opts.bind === "::" ? "127.0.0.1" : opts.bind;
  return {
    server,
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        downstream.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
