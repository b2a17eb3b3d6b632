/**
 * Issue 11 item 10: a change is applied only once the files have settled (the same texts on two
 * reads `settleMs` apart), so a truncated or half-written file is never applied; a Kubernetes
 * ConfigMap volume (`..data` symlink swapped atomically) loads and reloads as one change.
 * Driven with an explicit clock through `check(now)`; the files are real.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigSnapshot } from "@lanecar/core";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigSource } from "../../src/config-source/config-source.js";

function serviceEntry(name: string, port: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  ports: [{number: 9080, name: http}]
  endpoints: [{address: 127.0.0.1, ports: {http: ${port}}}]
`;
}

const TWO = `${serviceEntry("a", 1001)}---\n${serviceEntry("b", 1002)}`;
const THREE = `${TWO}---\n${serviceEntry("c", 1003)}`;

const sources: ConfigSource[] = [];
afterEach(() => {
  for (const s of sources.splice(0)) s.stop();
});

function load(path: string, settleMs = 300): { src: ConfigSource; applied: ConfigSnapshot[] } {
  const src = ConfigSource.load([path], { namespace: "default", pollMs: 0, settleMs });
  sources.push(src);
  const applied: ConfigSnapshot[] = [];
  src.on("reload", (s) => applied.push(s));
  src.on("error", () => {});
  return { src, applied };
}

describe("ConfigSource: settling", () => {
  it("never applies a truncated or half-written file; applies the whole once it is stable", () => {
    const dir = mkdtempSync(join(tmpdir(), "lanecar-cs-"));
    const file = join(dir, "c.yaml");
    writeFileSync(file, TWO);
    const { src, applied } = load(file);
    expect(src.current.resources).toHaveLength(2);

    writeFileSync(file, ""); // truncated: `cat new > file` before it writes
    expect(src.check(10_000)).toBe("settling");
    writeFileSync(file, `${TWO}---\n`); // half written: parses, one document short
    expect(src.check(10_200)).toBe("settling");
    expect(src.check(10_400)).toBe("settling"); // same text, but not yet settleMs since 10_200
    writeFileSync(file, THREE);
    expect(src.check(10_600)).toBe("settling");
    expect(applied).toEqual([]);
    expect(src.current.resources).toHaveLength(2);
    expect(src.check(10_900)).toBe("reloaded");
    expect(applied.map((s) => s.resources.length)).toEqual([3]);
    expect(src.check(11_000)).toBe("unchanged");
  });

  it("a change that goes back to what is applied is no change", () => {
    const dir = mkdtempSync(join(tmpdir(), "lanecar-cs-"));
    const file = join(dir, "c.yaml");
    writeFileSync(file, TWO);
    const { src, applied } = load(file);
    writeFileSync(file, "");
    expect(src.check(1_000)).toBe("settling");
    writeFileSync(file, TWO);
    expect(src.check(2_000)).toBe("unchanged");
    expect(applied).toEqual([]);
    expect(src.counts).toEqual({ success: 0, error: 0 });
  });

  it("settles on its own: a change seen once is read again settleMs later and applied", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lanecar-cs-"));
    const file = join(dir, "c.yaml");
    writeFileSync(file, TWO);
    const { src, applied } = load(file, 50);
    writeFileSync(file, THREE);
    expect(src.check()).toBe("settling");
    const until = Date.now() + 5000;
    while (applied.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(applied.map((s) => s.resources.length)).toEqual([3]);
  });
});

/** Lays out a ConfigMap volume as the kubelet's AtomicWriter does, and swaps it the same way. */
function configMapVolume(files: Record<string, string>): {
  dir: string;
  swap(next: Record<string, string>): void;
} {
  const dir = mkdtempSync(join(tmpdir(), "lanecar-cm-"));
  let n = 0;
  let current = "";
  const writeVersion = (f: Record<string, string>) => {
    const ts = `..2026_12_06_04_30_0${n++}.${1000 + n}`;
    mkdirSync(join(dir, ts));
    for (const [name, text] of Object.entries(f)) writeFileSync(join(dir, ts, name), text);
    return ts;
  };
  current = writeVersion(files);
  symlinkSync(current, join(dir, "..data"));
  for (const name of Object.keys(files)) symlinkSync(join("..data", name), join(dir, name));
  return {
    dir,
    swap(next) {
      const ts = writeVersion(next);
      symlinkSync(ts, join(dir, "..data_tmp"));
      renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
      for (const name of Object.keys(next)) {
        try {
          symlinkSync(join("..data", name), join(dir, name));
        } catch {
          // already linked
        }
      }
      rmSync(join(dir, current), { recursive: true });
      current = ts;
    },
  };
}

describe("ConfigSource: Kubernetes ConfigMap volume", () => {
  it("reads the files through `..data` once (not the timestamped copy) and applies a swap", () => {
    const vol = configMapVolume({ "routes.yaml": TWO });
    const { src, applied } = load(vol.dir);
    expect(src.current.resources).toHaveLength(2);
    expect(src.current.files.every((f) => !f.includes("/.."))).toBe(true);
    vol.swap({ "routes.yaml": THREE });
    expect(src.check(5_000)).toBe("settling");
    expect(src.check(5_300)).toBe("reloaded");
    expect(applied.map((s) => s.resources.length)).toEqual([3]);
    expect(src.counts).toEqual({ success: 1, error: 0 });
  });
});
