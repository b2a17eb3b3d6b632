/**
 * Issue 12 item 12: the Node running the suite is one Lanecar supports, and the HTTP parser
 * start-up check (`assertParser`, packages/proxy/src/h1/llhttp.ts) passes on it in the real
 * binary. CI runs the whole suite on the machine's Node and on Node 24, so both are exercised.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LANECAR_BIN } from "../support/lanecar.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAJOR = Number(process.versions.node.split(".")[0]);

/** Majors the root package.json's `engines.node` names (`^20.19.0 || ^22.12.0 || >=24.0.0 <25`). */
function supportedMajors(): number[] {
  const range: string = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).engines.node;
  return [...range.matchAll(/(?:\^|>=)(\d+)\./g)].map((m) => Number(m[1]));
}

describe(`Node ${process.version} (issue 12 item 12)`, () => {
  it("is a version engines declares: 20, 22 or 24", () => {
    expect(supportedMajors()).toEqual([20, 22, 24]);
    expect(supportedMajors()).toContain(MAJOR);
  });

  it("the built parser passes its start-up check in a fresh process of this Node", () => {
    const llhttp = `${ROOT}packages/proxy/dist/h1/llhttp.js`;
    const r = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { assertParser } from ${JSON.stringify(llhttp)}; assertParser(); console.log("parser ok", process.version);`,
      ],
      { encoding: "utf8", timeout: 15_000 },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`parser ok ${process.version}`);
  });

  it("the lanecar binary's start-up check passes on this Node: it takes the codec, not the fallback", async () => {
    const config = `${ROOT}../shared/conformance/istio/tasks/egress-control__se-httpbin-ext.yaml`;
    // A port already taken: the sidecar runs the check, logs the data path, then cannot listen.
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    const port = (taken.address() as { port: number }).port;
    const env = { ...process.env };
    delete env.LANECAR_DATA_PATH; // the fallback project forces one; here the check must decide
    const s = spawnSync(
      process.execPath,
      [
        LANECAR_BIN,
        "sidecar",
        "--config",
        config,
        "--service",
        "a",
        "--inbound",
        `127.0.0.1:${port}`,
        "--admin",
        "127.0.0.1:0",
        "--outbound",
        "127.0.0.1:0",
      ],
      { encoding: "utf8", timeout: 15_000, env },
    );
    taken.close();
    expect(s.stderr).toContain(
      `data path: Lanecar HTTP/1.1 codec (Node ${process.version}'s HTTP parser binding passed the start-up check)`,
    );
    expect(s.stderr).toMatch(/cannot listen/);
    expect(s.status).toBe(1);
  });
});
