/**
 * Issue 6, items 2 and 5: header limits (431 for a header section over the limit and for too many
 * headers, nothing forwarded), CR/LF that config, discovery or a label would add is refused and
 * nothing is injected upstream, and hop-by-hop headers — plus every header `Connection` names —
 * are removed, while `Connection` cannot remove a lane header the sidecar sets.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LANECAR_BIN } from "../support/lanecar.js";
import { eventually } from "../support/load.js";
import { metric } from "../support/metrics.js";
import {
  LANES_LABEL,
  type Started,
  serviceEntry,
  startSidecarProcess,
  writeConfig,
} from "./support/proxy.js";
import { rawExchange, statuses } from "./support/raw-client.js";
import { type RecordingUpstream, startRecordingUpstream } from "./support/recording-upstream.js";
import { header } from "./support/strict-http.js";

const H = "Host: up:9080\r\n";
const INJECT = "x-injected";

describe("header limits", () => {
  let up: RecordingUpstream;
  let sc: Started;
  beforeAll(async () => {
    up = await startRecordingUpstream("echo");
    sc = await startSidecarProcess({ yaml: serviceEntry("up", [{ port: up.port }]), appPort: up.port });
  });
  afterAll(async () => {
    await sc?.stop();
    await up?.close();
  });

  for (const listener of ["inbound", "outbound"] as const) {
    const port = () => (listener === "inbound" ? sc.port : sc.outbound);
    it(`${listener}: a header section over 60 KiB → 431, closed, nothing upstream`, async () => {
      up.reset();
      const r = await rawExchange(port(), `GET / HTTP/1.1\r\n${H}X-Big: ${"a".repeat(62 * 1024)}\r\n\r\n`);
      expect(statuses(r.data)).toEqual([431]);
      expect(r.closed).toBe(true);
      // Absence is checked after a positive signal: a request sent afterwards reached the
      // upstream, so a late forward of the refused one would have arrived before it.
      const ok = await rawExchange(port(), `GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(statuses(ok.data)).toEqual([200]);
      expect(up.requests.map((q) => q.target)).toEqual(["/after"]);
      expect(up.errors).toEqual([]);
    });

    it(`${listener}: 102 headers → 431, nothing upstream; 100 pass`, async () => {
      up.reset();
      const many = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join("");
      const r = await rawExchange(port(), `GET / HTTP/1.1\r\n${H}${many(100)}\r\n`);
      expect(statuses(r.data)).toEqual([431]);
      expect(r.closed).toBe(true);
      const ok = await rawExchange(port(), `GET / HTTP/1.1\r\n${H}${many(98)}Connection: close\r\n\r\n`);
      expect(statuses(ok.data)).toEqual([200]);
      // After that positive signal: the upstream got the accepted request and nothing else.
      expect(up.requests).toHaveLength(1);
      expect(up.requests[0]!.headers.some(([k]) => k === "X-H97")).toBe(true);
      expect(up.errors).toEqual([]);
    });
  }
});

describe("CR/LF that config, discovery or a label would add", () => {
  let up: RecordingUpstream;
  let sc: Started;
  beforeAll(async () => {
    up = await startRecordingUpstream("echo");
    const { dir } = writeConfig("");
    const labels = join(dir, "labels");
    // The downward-API file decodes \r\n: a pod label whose value would split a header.
    writeFileSync(labels, `app="a"\nversion="v1"\nASM_TRAFFIC_TAG="gray\\r\\n${INJECT}: 1"\n`);
    sc = await startSidecarProcess({
      yaml: [LANES_LABEL, serviceEntry("up", [{ port: up.port }])],
      appPort: up.port,
      podLabels: "",
      args: ["--pod-labels-file", labels],
    });
  });
  afterAll(async () => {
    await sc?.stop();
    await up?.close();
  });

  it("a pod label with CR/LF is not a lane: not forwarded, counted", async () => {
    up.reset();
    const r = await rawExchange(sc.outbound, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(statuses(r.data)).toEqual([200]);
    expect(up.errors).toEqual([]);
    expect(up.requests).toHaveLength(1);
    const q = up.requests[0]!;
    expect(header(q, INJECT)).toBeUndefined();
    expect(header(q, "x-asm-prefer-tag")).toBeUndefined();
    expect(header(q, "baggage") ?? "").not.toContain("x-asm-prefer-tag");
    expect(await metric(sc.admin, "lanecar_invalid_labels_total")).toBeGreaterThan(0);
  });

  const badConfigs: [string, string][] = [
    [
      "a VirtualService header set",
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: up}
spec:
  hosts: [up]
  http:
  - headers: {request: {set: {x-note: "a\\r\\n${INJECT}: 1"}}}
    route: [{destination: {host: up}}]`,
    ],
    [
      "a rewrite authority",
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: up}
spec:
  hosts: [up]
  http:
  - rewrite: {authority: "up\\r\\n${INJECT}: 1"}
    route: [{destination: {host: up}}]`,
    ],
    [
      "a ServiceEntry host",
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: evil}
spec:
  hosts: ["evil\\r\\n${INJECT}: 1"]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1}]`,
    ],
  ];
  for (const [what, doc] of badConfigs) {
    it(`${what} with CR/LF: rejected by validate and by a live reload; nothing injected`, async () => {
      const { configPath } = writeConfig([LANES_LABEL, serviceEntry("up", [{ port: up.port }]), doc]);
      const v = spawnSync(process.execPath, [LANECAR_BIN, "validate", configPath], { encoding: "utf8" });
      expect(v.status).toBe(1);
      const before = await metric(sc.admin, "lanecar_config_reloads_total", { result: "error" });
      writeFileSync(
        sc.configPath,
        `${[LANES_LABEL, serviceEntry("up", [{ port: up.port }]), doc].join("\n---\n")}\n`,
      );
      expect(
        await eventually(
          async () => (await metric(sc.admin, "lanecar_config_reloads_total", { result: "error" })) > before,
          5000,
        ),
      ).toBe(true);
      up.reset();
      const r = await rawExchange(sc.outbound, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(statuses(r.data)).toEqual([200]);
      expect(up.errors).toEqual([]);
      expect(up.requests.flatMap((q) => q.headers.map(([k]) => k.toLowerCase()))).not.toContain(INJECT);
    });
  }
});

describe("hop-by-hop headers", () => {
  let up: RecordingUpstream;
  let sc: Started;
  beforeAll(async () => {
    up = await startRecordingUpstream("echo");
    sc = await startSidecarProcess({
      yaml: [LANES_LABEL, serviceEntry("up", [{ port: up.port }])],
      appPort: up.port,
      podLabels: "app=a,version=v2,ASM_TRAFFIC_TAG=gray",
    });
  });
  afterAll(async () => {
    await sc?.stop();
    await up?.close();
  });

  const HOP = [
    "Connection: close, X-Secret, x-asm-prefer-tag, Baggage",
    "Keep-Alive: timeout=5",
    "Proxy-Connection: keep-alive",
    "Proxy-Authorization: Basic Zm9vOmJhcg==",
    "TE: trailers",
    "Trailer: x-checksum",
    "Upgrade: h2c",
    "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA",
    "X-Secret: 42",
    "X-Kept: yes",
  ];
  const hopNames = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
    "x-secret",
  ];

  for (const listener of ["inbound", "outbound"] as const) {
    it(`${listener}: hop-by-hop and Connection-named response headers never reach the client`, async () => {
      up.behaviour = "hop-response";
      const port = listener === "inbound" ? sc.port : sc.outbound;
      const r = await rawExchange(port, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      up.behaviour = "echo";
      expect(statuses(r.data)).toEqual([200]);
      const head = r.data.slice(0, r.data.indexOf("\r\n\r\n")).toLowerCase();
      expect(head).toContain("x-up-kept: yes");
      for (const h of ["x-up-secret", "keep-alive", "proxy-authenticate", "trailer", "upgrade"])
        expect(head).not.toMatch(new RegExp(`\r\n${h}:`));
      // Only the proxy's own Connection header, for its own connection.
      expect(head.match(/\r\nconnection: [^\r]*/g)).toEqual(["\r\nconnection: close"]);
    });

    it(`${listener}: hop-by-hop and Connection-named headers never go upstream`, async () => {
      up.reset();
      const port = listener === "inbound" ? sc.port : sc.outbound;
      const r = await rawExchange(port, `GET / HTTP/1.1\r\n${H}${HOP.join("\r\n")}\r\n\r\n`, 1000);
      expect(statuses(r.data)).toEqual([200]);
      expect(up.requests).toHaveLength(1);
      const q = up.requests[0]!;
      const names = q.headers.map(([k]) => k.toLowerCase());
      for (const h of hopNames) {
        // undici manages its own connection to the upstream and may say keep-alive on it.
        if (h === "connection") expect(header(q, h) ?? "keep-alive").toBe("keep-alive");
        else expect(names).not.toContain(h);
      }
      expect(header(q, "x-kept")).toBe("yes");
      if (listener === "outbound") {
        // Connection named the lane header and baggage: the sidecar's lane survives both.
        expect(header(q, "x-asm-prefer-tag")).toBe("gray");
        expect(names.filter((n) => n === "x-asm-prefer-tag")).toHaveLength(1);
        expect(header(q, "baggage")).toContain("x-asm-prefer-tag=gray");
      }
    });
  }
});
