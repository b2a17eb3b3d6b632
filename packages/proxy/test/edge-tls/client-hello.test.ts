/**
 * The ClientHello reader the gateway's HTTPS listener picks a server with: real ClientHellos
 * (Node's TLS client and OpenSSL's s_client, captured on loopback) byte by byte, one split over
 * two records, one without SNI, and what is not a ClientHello.
 */
import { execFile } from "node:child_process";
import net from "node:net";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import { INCOMPLETE, NOT_TLS, parseClientHello } from "../../src/edge-tls/client-hello.js";

/** The first bytes a client sends (its ClientHello), captured by a server that never answers. */
async function capture(connect: (port: number) => void): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        // A whole record is in: the length in its header is satisfied.
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          s.destroy();
          server.close();
          resolve(buf);
        }
      });
      s.on("error", () => {});
    });
    server.listen(0, "127.0.0.1", () => connect((server.address() as net.AddressInfo).port));
  });
}

function nodeHello(servername: string | undefined): Promise<Buffer> {
  return capture((port) => {
    const c = tls.connect({
      port,
      host: "127.0.0.1",
      ...(servername ? { servername } : {}),
      rejectUnauthorized: false,
    });
    c.on("error", () => {});
  });
}

describe("parseClientHello", () => {
  it("reads the SNI of Node's ClientHello, lower-cased, and is INCOMPLETE on every shorter prefix", async () => {
    const hello = await nodeHello("Shop.Example.COM");
    expect(parseClientHello(hello)).toEqual({ serverName: "shop.example.com" });
    for (let n = 0; n < hello.length; n++) expect(parseClientHello(hello.subarray(0, n))).toBe(INCOMPLETE);
  });

  it("reads the SNI of OpenSSL's s_client", async () => {
    const hello = await capture((port) => {
      const child = execFile(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "a.example.com"],
        () => {},
      );
      child.stdin?.end();
    });
    expect(parseClientHello(hello)).toEqual({ serverName: "a.example.com" });
  });

  it("has no server name when the client sends none (an IP address)", async () => {
    expect(parseClientHello(await nodeHello(undefined))).toEqual({ serverName: undefined });
  });

  it("reassembles a ClientHello split over two records", async () => {
    const hello = await nodeHello("split.example.com");
    const body = hello.subarray(5);
    const record = (b: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 0xff]), b]);
    const two = Buffer.concat([record(body.subarray(0, 40)), record(body.subarray(40))]);
    expect(parseClientHello(two.subarray(0, 45))).toBe(INCOMPLETE);
    expect(parseClientHello(two)).toEqual({ serverName: "split.example.com" });
  });

  it("is NOT_TLS for plaintext HTTP, another record type, and a ClientHello whose lengths lie", async () => {
    expect(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n"))).toBe(NOT_TLS);
    expect(parseClientHello(Buffer.from([23, 3, 3, 0, 1, 0]))).toBe(NOT_TLS);
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 0]))).toBe(NOT_TLS); // empty record
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0]))).toBe(NOT_TLS); // ServerHello
    const hello = Buffer.from(await nodeHello("x.example.com"));
    // The extensions length (after version, random, session id, suites, compression) made too long.
    let at = 5 + 4 + 2 + 32;
    at += 1 + hello[at]!;
    at += 2 + hello.readUInt16BE(at);
    at += 1 + hello[at]!;
    hello.writeUInt16BE(hello.readUInt16BE(at) + 100, at);
    expect(parseClientHello(hello)).toBe(NOT_TLS);
  });
});
