/**
 * The mutating admission webhook server behind `lanecar injector`: HTTPS, `POST /inject` answered
 * by admission.ts, `GET /healthz`. The certificate and key are files (a Secret volume); they are
 * polled and, when either changes and the pair loads, swapped in for new connections, so a
 * rotated certificate needs no restart. A pair that does not load (e.g. the cert written, the key
 * not yet) keeps the old one serving and is logged.
 */
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createSecureContext } from "node:tls";
import { admit } from "./admission.js";
import type { InjectOptions } from "./inject-pod.js";

/** kube-apiserver's own request limit is 3 MiB; a bigger body is not a pod it sent. */
const MAX_BODY = 4 * 1024 * 1024;

export interface InjectorOptions {
  listen: { host: string; port: number };
  certFile: string;
  keyFile: string;
  inject: InjectOptions;
  log: (line: string) => void;
  /** How often the cert/key files are checked (ms). */
  pollMs?: number;
}

export interface Injector {
  address: AddressInfo;
  /** Number of times a changed cert/key pair was loaded. */
  reloads(): number;
  close(): Promise<void>;
}

function loadPair(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  createSecureContext({ cert, key }); // throws when they do not load or do not match
  return { cert, key };
}

export async function startInjector(o: InjectorOptions): Promise<Injector> {
  const pair = loadPair(o.certFile, o.keyFile);
  let reloads = 0;
  const server: Server = createServer({ ...pair, minVersion: "TLSv1.2" }, (req, res) => {
    const send = (status: number, body: string, type = "text/plain") => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    const path = (req.url ?? "").split("?")[0];
    if (path === "/healthz" && req.method === "GET") return send(200, "ok\n");
    if (path !== "/inject") return send(404, "not found\n");
    if (req.method !== "POST") return send(405, "POST an AdmissionReview\n");
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        send(413, "AdmissionReview too large\n");
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_BODY) return;
      const answer = admit(Buffer.concat(chunks).toString("utf8"), o.inject);
      o.log(`lanecar injector: ${answer.log}`);
      if (typeof answer.body === "string") send(answer.status, answer.body);
      else send(answer.status, JSON.stringify(answer.body), "application/json");
    });
    req.on("error", () => res.destroy());
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const onChange = () => {
    try {
      server.setSecureContext(loadPair(o.certFile, o.keyFile));
      reloads++;
      o.log(`lanecar injector: certificate reloaded from ${o.certFile}`);
    } catch (err) {
      o.log(`lanecar injector: keeping the old certificate: ${(err as Error).message.split("\n")[0]}`);
    }
  };
  const interval = o.pollMs ?? 1000;
  // watchFile stats the path, so it follows a Secret volume's symlink swap too.
  for (const f of [o.certFile, o.keyFile]) watchFile(f, { interval, persistent: false }, onChange);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.listen.port, o.listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    reloads: () => reloads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const f of [o.certFile, o.keyFile]) unwatchFile(f, onChange);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
