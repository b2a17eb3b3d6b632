/**
 * `--access-log`: every hop a Lanecar process serves writes one line to stdout with the listener,
 * request line, status, response flags, destination, version, upstream address, lane, fallback
 * and x-request-id — the gateway's generated id is the one every hop logs. Off by default.
 */
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mesh } from "../support/mesh.js";

const LINE =
  /^\[(\S+)\] (inbound|outbound|gateway) "(\S+) (\S+) HTTP\/1\.1" (\d{3}) (\S+) ([\d.]+)ms dest=(\S+) version=(\S+) upstream=(\S+) lane=(\S+) fallback=(\S+) request_id=(\S+)$/;

function lines(stdout: string) {
  return stdout
    .split("\n")
    .map((l) => LINE.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({
      listener: m[2],
      method: m[3],
      path: m[4],
      status: Number(m[5]),
      flags: m[6],
      dest: m[8],
      version: m[9],
      upstream: m[10],
      lane: m[11],
      fallback: m[12],
      requestId: m[13],
    }));
}

async function until(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

describe("--access-log", () => {
  const mesh = new Mesh({
    instances: [
      { service: "a", lane: "prod", calls: ["b:9080"] },
      { service: "b", lane: "prod" },
      { service: "b", lane: "gray" },
    ],
    args: ["--access-log"],
  });
  beforeAll(() => mesh.start(), 60_000);
  afterAll(() => mesh.stop());

  it("writes one line per hop, joined by the gateway's x-request-id", async () => {
    const r = await fetch(`http://127.0.0.1:${mesh.gatewayPort}/hello`, {
      headers: { "x-asm-prefer-tag": "gray" },
    });
    expect(r.status, await r.text()).toBe(200);
    const a = mesh.find("a", "prod").sidecar!;
    const b = mesh.find("b", "gray").sidecar!;
    await until(
      () =>
        lines(mesh.gateway!.stdout()).length > 0 &&
        lines(a.stdout()).length >= 2 &&
        lines(b.stdout()).length > 0,
    );
    const [edge] = lines(mesh.gateway!.stdout());
    expect(edge, mesh.gateway!.stdout()).toMatchObject({
      listener: "gateway",
      method: "GET",
      path: "/hello",
      status: 200,
      flags: "-",
      lane: "gray",
      version: "v1",
      fallback: "noinstances",
    });
    expect(edge!.dest).toMatch(/^a\b/);
    expect(edge!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(edge!.upstream).toMatch(/^127\.0\.0\.1:\d+$/);

    const aLines = lines(a.stdout());
    const inbound = aLines.find((l) => l.listener === "inbound");
    const outbound = aLines.find((l) => l.listener === "outbound");
    expect(inbound).toMatchObject({ status: 200, lane: "gray", requestId: edge!.requestId });
    expect(outbound).toMatchObject({
      status: 200,
      lane: "gray",
      fallback: "none",
      requestId: edge!.requestId,
    });
    expect(outbound!.dest).toMatch(/^b\b/);
    expect(lines(b.stdout())[0]).toMatchObject({
      listener: "inbound",
      lane: "gray",
      requestId: edge!.requestId,
    });
  });

  it("logs local replies with their response flag", async () => {
    const a = mesh.find("a", "prod");
    const r = await request(`http://127.0.0.1:${a.outbound}/x`, { headers: { host: "nowhere.example" } });
    await r.body.text();
    expect(r.statusCode).toBe(404);
    await until(() => lines(a.sidecar!.stdout()).some((l) => l.status === 404));
    expect(lines(a.sidecar!.stdout()).find((l) => l.status === 404)).toMatchObject({
      listener: "outbound",
      path: "/x",
      flags: "NR",
      upstream: "-",
    });
  });

  it("is off by default", async () => {
    const plain = new Mesh({ instances: [{ service: "a", lane: "prod" }] });
    await plain.start();
    try {
      const r = await fetch(`http://127.0.0.1:${plain.gatewayPort}/`);
      expect(r.status).toBe(200);
      await new Promise((res) => setTimeout(res, 200));
      expect(lines(plain.gateway!.stdout())).toEqual([]);
      expect(lines(plain.instances[0]!.sidecar!.stdout())).toEqual([]);
    } finally {
      await plain.stop();
    }
  });
});
