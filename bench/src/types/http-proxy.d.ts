/** The part of http-proxy's API the peer uses (the package ships no types). */
declare module "http-proxy" {
  import type { Agent, IncomingMessage, ServerResponse } from "node:http";

  interface ServerOptions {
    target?: string;
    agent?: Agent;
    xfwd?: boolean;
    changeOrigin?: boolean;
  }
  interface ProxyServer {
    web(req: IncomingMessage, res: ServerResponse, opts?: ServerOptions): void;
    on(event: "error", cb: (err: Error, req: IncomingMessage, res: ServerResponse) => void): this;
  }
  const httpProxy: { createProxyServer(opts: ServerOptions): ProxyServer };
  export default httpProxy;
}
