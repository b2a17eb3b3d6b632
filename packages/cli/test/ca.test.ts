/** `lanecar ca init|issue`: files for --identity-dir, one-line errors, exit codes. */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "./run.js";

const tmp = () => mkdtempSync(join(tmpdir(), "lanecar-ca-cli-"));

describe("lanecar ca", () => {
  it("init then issue writes cert.pem, key.pem and root-cert.pem and prints the SPIFFE ID", async () => {
    const ca = join(tmp(), "ca");
    const init = await run(["ca", "init", "--dir", ca, "--trust-domain", "mesh.example"]);
    expect(init).toMatchObject({ code: 0, out: [join(ca, "root-cert.pem")] });
    const out = join(tmp(), "id");
    const issue = await run([
      "ca",
      "issue",
      "--dir",
      ca,
      "--namespace",
      "bookinfo",
      "--service-account",
      "reviews",
      "--ttl",
      "2h",
      "--out",
      out,
    ]);
    expect(issue).toMatchObject({ code: 0, out: ["spiffe://mesh.example/ns/bookinfo/sa/reviews"] });
    for (const f of ["cert.pem", "key.pem", "root-cert.pem"]) expect(existsSync(join(out, f))).toBe(true);
  });

  it.each([
    [["ca"], 2, /^usage: lanecar ca init\|issue/],
    [["ca", "sign"], 2, /^lanecar ca: unknown ca command "sign"/],
    [["ca", "init"], 2, /^lanecar ca: ca init needs --dir DIR$/],
    [
      ["ca", "issue", "--dir", "/nonexistent-ca", "--namespace", "a"],
      2,
      /needs --dir DIR --namespace NS --service-account SA --out DIR$/,
    ],
    [
      [
        "ca",
        "issue",
        "--dir",
        "/x",
        "--namespace",
        "a",
        "--service-account",
        "b",
        "--out",
        "/y",
        "--ttl",
        "soon",
      ],
      2,
      /--ttl "soon" is not a positive duration such as 24h$/,
    ],
    [
      [
        "ca",
        "issue",
        "--dir",
        "/nonexistent-ca",
        "--namespace",
        "a",
        "--service-account",
        "b",
        "--out",
        "/tmp/x",
      ],
      1,
      /^lanecar ca issue: cannot read the CA in \/nonexistent-ca \(ENOENT\); run lanecar ca init first$/,
    ],
    [
      ["ca", "init", "--dir", "/tmp/x-ca", "--trust-domain", "Bad Domain"],
      1,
      /^lanecar ca init: trust domain "Bad Domain" is not valid/,
    ],
  ])("%j: exit %i, one line", async (argv, code, line) => {
    const r = await run(argv as string[]);
    expect(r.code).toBe(code);
    const lines = r.err.filter(Boolean);
    expect(lines[0]).toMatch(line);
    if (code === 1) expect(lines).toHaveLength(1);
  });
});
