/**
 * Issue 15 item 3: PeerAuthentication drives a sidecar's inbound mutual-TLS mode, with real TLS
 * on loopback (a sidecar with an `issueWorkload` identity, raw plaintext and mTLS clients):
 * namespace STRICT refuses plaintext, a workload-level PERMISSIVE overrides it, `portLevelMtls`
 * for the app's port wins over the workload's mode, the mesh-wide policy in istio-system applies
 * when nothing nearer does, a config reload changes the mode for new connections (open ones keep
 * theirs), and STRICT without `--identity-dir` fails closed with a one-line warning — on a
 * `lanecar sidecar` process too, on both data paths (the fallback has no socket gate).
 * Precedence as in Istio's PeerAuthentication reference (istio.io/latest/docs/reference/config/
 * security/peer_authentication/).
 */
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxyProcess } from "../../packages/proxy/src/process/proxy-process.js";
import { startSidecar } from "../../packages/proxy/src/process/sidecar.js";
import { startLanecar } from "../support/lanecar.js";
import {
  Identities,
  parseAnswer,
  type RecordingApp,
  recordingApp,
  request,
  tmp,
  until,
} from "../support/mesh-identities.js";
import { freePorts } from "../support/ports.js";

// Mutual TLS runs only on Lanecar's codec (the node:http fallback refuses --identity-dir): this
// file forces it in both test projects, as test/e2e/mtls.test.ts does for its processes.
process.env.LANECAR_DATA_PATH = "h1";

let ids: Identities;
let app: RecordingApp;
let serverId: string;
let clientId: string;

beforeAll(async () => {
  ids = new Identities();
  serverId = ids.issue("reviews");
  clientId = ids.issue("productpage");
  app = await recordingApp();
});
afterAll(async () => {
  await app?.close();
});

function peerAuth(name: string, namespace: string, spec: string): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: ${namespace} }
spec: ${spec}
`;
}

function writeConfig(file: string, docs: string[]): void {
  // A config must hold at least one resource: a harmless ServiceEntry stands in for "none".
  const base = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: other, namespace: default }
spec:
  hosts: [other.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1 }]
`;
  writeFileSync(file, [base, ...docs].join("---\n"));
}

interface Server {
  p: ProxyProcess;
  port: number;
  file: string;
  errors: string[];
}

async function server(docs: string[], identity: string | null = serverId): Promise<Server> {
  const file = join(tmp("peer-auth"), "config.yaml");
  writeConfig(file, docs);
  const errors: string[] = [];
  const p = await startSidecar({
    config: [file],
    service: "reviews",
    namespace: "default",
    podLabels: { app: "reviews", version: "v1" },
    inbound: "127.0.0.1:0",
    outbound: "127.0.0.1:0",
    app: `http://127.0.0.1:${app.port}`,
    admin: undefined,
    pollMs: 100,
    logger: { info: () => {}, error: (m) => errors.push(m) },
    mtls: identity ? { identityDir: identity, trustDomain: "cluster.local", pollMs: 1000 } : undefined,
  });
  return { p, port: p.addresses.get("inbound")!.port, file, errors };
}

const plaintext = (s: Server) => request(s.port, { path: "/plain" });
const mtls = (s: Server) => request(s.port, { path: "/mtls", id: clientId });

describe("PeerAuthentication on a sidecar's inbound", () => {
  it("namespace STRICT: mTLS served, plaintext refused before the app sees it", async () => {
    const s = await server([peerAuth("default", "default", "{ mtls: { mode: STRICT } }")]);
    try {
      app.seen.length = 0;
      expect((await mtls(s)).status).toBe(200);
      expect((await plaintext(s)).raw).toBe("");
      expect(app.seen).toEqual(["GET /mtls"]);
      expect(s.p.mesh!.status()).toMatchObject({ inboundMode: "STRICT" });
    } finally {
      await s.p.close();
    }
  });

  it("a workload-level PERMISSIVE overrides the namespace's STRICT: plaintext served", async () => {
    const s = await server([
      peerAuth("default", "default", "{ mtls: { mode: STRICT } }"),
      peerAuth(
        "reviews",
        "default",
        "{ selector: { matchLabels: { app: reviews } }, mtls: { mode: PERMISSIVE } }",
      ),
    ]);
    try {
      expect((await plaintext(s)).status).toBe(200);
      expect((await mtls(s)).status).toBe(200);
    } finally {
      await s.p.close();
    }
  });

  it("a workload-level DISABLE: plaintext only, a TLS handshake is not answered as TLS", async () => {
    const s = await server([
      peerAuth("default", "default", "{ mtls: { mode: STRICT } }"),
      peerAuth(
        "reviews",
        "default",
        "{ selector: { matchLabels: { app: reviews } }, mtls: { mode: DISABLE } }",
      ),
    ]);
    try {
      app.seen.length = 0;
      expect((await plaintext(s)).status).toBe(200);
      expect((await mtls(s)).status).toBe(0);
      expect(app.seen).toEqual(["GET /plain"]);
      expect(s.p.mesh!.status()).toMatchObject({ inboundMode: "DISABLE" });
    } finally {
      await s.p.close();
    }
  });

  it("portLevelMtls for the app's port wins over the workload's mode; another port's does not apply", async () => {
    const wl = (ports: string) =>
      peerAuth(
        "reviews",
        "default",
        `{ selector: { matchLabels: { app: reviews } }, mtls: { mode: STRICT }, portLevelMtls: { ${ports} } }`,
      );
    const open = await server([wl(`"${app.port}": { mode: PERMISSIVE }`)]);
    try {
      expect((await plaintext(open)).status).toBe(200);
    } finally {
      await open.p.close();
    }
    const other = app.port === 65535 ? 1 : app.port + 1;
    const strict = await server([wl(`"${other}": { mode: PERMISSIVE }`)]);
    try {
      expect((await plaintext(strict)).raw).toBe("");
      expect((await mtls(strict)).status).toBe(200);
    } finally {
      await strict.p.close();
    }
  });

  it("the mesh-wide policy (root namespace istio-system) applies; a namespace UNSET inherits it", async () => {
    const s = await server([
      peerAuth("default", "istio-system", "{ mtls: { mode: STRICT } }"),
      peerAuth("default", "default", "{ mtls: { mode: UNSET } }"),
    ]);
    try {
      expect((await plaintext(s)).raw).toBe("");
    } finally {
      await s.p.close();
    }
  });

  it("no PeerAuthentication: --mtls-mode's default PERMISSIVE serves both", async () => {
    const s = await server([]);
    try {
      expect((await plaintext(s)).status).toBe(200);
      expect((await mtls(s)).status).toBe(200);
    } finally {
      await s.p.close();
    }
  });

  it("a reload to STRICT refuses new plaintext connections; an open keep-alive connection keeps its mode", async () => {
    const s = await server([]);
    const kept = net.connect({ port: s.port, host: "127.0.0.1" });
    try {
      let got = "";
      kept.on("data", (d) => {
        got += d.toString("latin1");
      });
      const ask = async (path: string) => {
        got = "";
        kept.write(`GET ${path} HTTP/1.1\r\nhost: reviews\r\n\r\n`);
        await until(() => got.endsWith("from-app"), `answer to ${path}`);
        return parseAnswer(got).status;
      };
      expect(await ask("/before")).toBe(200);
      const version = s.p.rt.config.current.version;
      writeConfig(s.file, [peerAuth("default", "default", "{ mtls: { mode: STRICT } }")]);
      await until(() => s.p.rt.config.current.version !== version, "the config reload");
      expect(s.p.mesh!.status()).toMatchObject({ inboundMode: "STRICT" });
      expect((await plaintext(s)).raw).toBe("");
      expect((await mtls(s)).status).toBe(200);
      expect(await ask("/after")).toBe(200);
    } finally {
      kept.destroy();
      await s.p.close();
    }
  });

  it("STRICT without --identity-dir: a one-line warning at load, every connection refused (fail closed)", async () => {
    const s = await server([peerAuth("default", "default", "{ mtls: { mode: STRICT } }")], null);
    try {
      app.seen.length = 0;
      expect((await plaintext(s)).raw).toBe("");
      expect(app.seen).toEqual([]);
      expect(s.errors).toHaveLength(1);
      expect(s.errors[0]).toMatch(
        /^PeerAuthentication default\/default makes inbound port \d+ STRICT but no --identity-dir is given: every inbound connection is refused/,
      );
    } finally {
      await s.p.close();
    }
  });

  it("a lanecar process on either data path: STRICT without --identity-dir warns once and refuses plaintext", async () => {
    const file = join(tmp("peer-auth-proc"), "config.yaml");
    writeConfig(file, [peerAuth("default", "default", "{ mtls: { mode: STRICT } }")]);
    const [inb, outb, adm] = await freePorts(3);
    for (const path of ["h1", "node"]) {
      const sc = await startLanecar(
        [
          "sidecar",
          "--config",
          file,
          "--service",
          "reviews",
          "--app",
          `http://127.0.0.1:${app.port}`,
          "--inbound",
          `127.0.0.1:${inb}`,
          "--outbound",
          `127.0.0.1:${outb}`,
        ],
        `127.0.0.1:${adm}`,
        { LANECAR_DATA_PATH: path },
      );
      try {
        app.seen.length = 0;
        expect((await request(inb!, { path: "/plain" })).raw).toBe("");
        expect(app.seen).toEqual([]);
        const warnings = sc
          .stderr()
          .split("\n")
          .filter((l) => l.includes("every inbound connection is refused"));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain(
          `PeerAuthentication default/default makes inbound port ${app.port} STRICT`,
        );
      } finally {
        expect(await sc.stop()).toBe(0);
      }
    }
  });
});
