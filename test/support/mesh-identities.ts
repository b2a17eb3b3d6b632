/**
 * Workload identities and raw clients for the inbound security tests (PeerAuthentication,
 * AuthorizationPolicy): a CA with `issueWorkload` identities, an app that records what reached
 * it, and one-request clients over plaintext or mutual TLS with a given identity, so a test
 * can say exactly which bytes arrived (or that the connection was refused: empty answer).
 */
import { mkdtempSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { initCa, issueWorkload, loadWorkloadCert } from "../../packages/proxy/src/identity/index.js";

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `lanecar-${prefix}-`));
}

export class Identities {
  readonly ca: string;
  constructor() {
    this.ca = join(tmp("ca"), "ca");
    initCa(this.ca, "cluster.local");
  }
  /** A workload's identity dir: `spiffe://cluster.local/ns/<namespace>/sa/<sa>`. */
  issue(sa: string, namespace = "default"): string {
    const dir = join(tmp(sa), sa);
    issueWorkload(this.ca, dir, { namespace, serviceAccount: sa, ttlMs: 3600_000 });
    return dir;
  }
}

export interface RecordingApp {
  port: number;
  seen: string[];
  close(): Promise<void>;
}

/** An app answering `from-app` and recording `METHOD path` of every request it got. */
export async function recordingApp(): Promise<RecordingApp> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end("from-app");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface RawAnswer {
  status: number;
  flags: string | undefined;
  body: string;
  /** Everything received; empty when the connection was refused. */
  raw: string;
}

export function parseAnswer(raw: string): RawAnswer {
  const [head = "", body = ""] = raw.split("\r\n\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const flags = /\r\nx-lanecar-flags: ([^\r]*)/i.exec(head)?.[1];
  return { status, flags, body, raw };
}

/** One request on a fresh connection, plaintext or mutual TLS with the identity in `id`. */
export function request(
  port: number,
  opts: { id?: string; method?: string; path?: string; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const c = opts.id ? loadWorkloadCert(opts.id) : undefined;
    const s = c
      ? tls.connect({
          port,
          host: "127.0.0.1",
          cert: c.certPem,
          key: c.keyPem,
          ca: c.rootPem,
          checkServerIdentity: () => undefined,
        })
      : net.connect({ port, host: "127.0.0.1" });
    const extra = Object.entries(opts.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    let out = "";
    s.on(c ? "secureConnect" : "connect", () =>
      s.write(
        `${opts.method ?? "GET"} ${opts.path ?? "/"} HTTP/1.1\r\nhost: reviews\r\n${extra}connection: close\r\n\r\n`,
      ),
    );
    s.on("data", (d) => {
      out += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => resolve(parseAnswer(out)));
  });
}

/** Polls `cond` every 50 ms for up to `ms`; throws with `what` when it never holds. */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
