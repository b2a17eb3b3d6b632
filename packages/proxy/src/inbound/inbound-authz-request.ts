/**
 * The one AuthzRequest (core) the inbound listener hands its Authorizer: filled before
 * `decide`, cleared after it. `decide` is synchronous and keeps nothing, so one instance per
 * listener serves every request without allocating (no per-request object or closure).
 */
import type { AuthzRequest } from "@lanecar/core";

type HeaderGetter = (name: string) => string | undefined;

const NO_HEADERS: HeaderGetter = () => undefined;

export class InboundAuthzRequest implements AuthzRequest {
  principal: string | undefined = undefined;
  sourceNamespace: string | undefined = undefined;
  sourceIp: string | undefined = undefined;
  host = "";
  method = "";
  path = "";
  port = 0;
  private getter: HeaderGetter = NO_HEADERS;

  fill(
    principal: string | undefined,
    sourceNamespace: string | undefined,
    sourceIp: string | undefined,
    host: string,
    method: string,
    path: string,
    port: number,
    getter: HeaderGetter,
  ): this {
    this.principal = principal;
    this.sourceNamespace = sourceNamespace;
    this.sourceIp = sourceIp;
    this.host = host;
    this.method = method;
    this.path = path;
    this.port = port;
    this.getter = getter;
    return this;
  }

  header(name: string): string | undefined {
    return this.getter(name);
  }

  /** Drops the request's references (headers, strings) so they do not outlive it. */
  clear(): void {
    this.getter = NO_HEADERS;
    this.principal = undefined;
    this.sourceNamespace = undefined;
    this.sourceIp = undefined;
    this.host = this.method = this.path = "";
  }
}
