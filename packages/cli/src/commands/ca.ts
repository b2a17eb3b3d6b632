/**
 * `lanecar ca init --dir DIR [--trust-domain cluster.local]` and
 * `lanecar ca issue --dir DIR --namespace NS --service-account SA [--ttl 24h] --out DIR`:
 * the identity files (`cert.pem`, `key.pem`, `root-cert.pem`) that `--identity-dir` reads, for
 * laptops, docker-compose and tests. Clusters use cert-manager instead (deploy/kubernetes).
 */
import { parseDuration } from "@lanecar/core";
import { CaError, DEFAULT_TRUST_DOMAIN, initCa, issueWorkload } from "@lanecar/proxy";
import { bool, type FlagSpec, one, parseArgs, UsageError, usage } from "../args.js";
import type { Io } from "../io.js";

const INIT_FLAGS: FlagSpec[] = [
  { name: "dir", help: "where the root certificate and key are written" },
  { name: "trust-domain", default: DEFAULT_TRUST_DOMAIN, help: "the SPIFFE trust domain" },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

const ISSUE_FLAGS: FlagSpec[] = [
  { name: "dir", help: "the CA folder made by `lanecar ca init`" },
  { name: "namespace", help: "the workload's namespace" },
  { name: "service-account", help: "the workload's service account" },
  { name: "ttl", default: "24h", help: "how long the certificate is valid" },
  { name: "out", help: "where cert.pem, key.pem and root-cert.pem are written (the --identity-dir)" },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

const USAGE = "usage: lanecar ca init|issue [flags]   (lanecar ca init --help, lanecar ca issue --help)";

export async function caCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === "init") return await init(rest, io);
    if (sub === "issue") return await issue(rest, io);
  } catch (err) {
    if (err instanceof CaError) {
      io.err(`lanecar ca ${sub}: ${err.message}`);
      return 1;
    }
    throw err;
  }
  if (sub === undefined || sub === "--help" || sub === "-h") {
    (sub ? io.out : io.err)(USAGE);
    return sub ? 0 : 2;
  }
  throw new UsageError(`unknown ca command "${sub}"; ${USAGE}`);
}

async function init(argv: string[], io: Io): Promise<number> {
  const a = parseArgs(argv, INIT_FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(usage("ca init", "--dir DIR [--trust-domain cluster.local]", INIT_FLAGS));
    return 0;
  }
  const dir = one(a, "dir");
  if (!dir) throw new UsageError("ca init needs --dir DIR");
  const root = initCa(dir, one(a, "trust-domain"));
  io.out(root);
  return 0;
}

async function issue(argv: string[], io: Io): Promise<number> {
  const a = parseArgs(argv, ISSUE_FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(
      usage("ca issue", "--dir DIR --namespace NS --service-account SA [--ttl 24h] --out DIR", ISSUE_FLAGS),
    );
    return 0;
  }
  const dir = one(a, "dir");
  const out = one(a, "out");
  const namespace = one(a, "namespace");
  const serviceAccount = one(a, "service-account");
  if (!dir || !out || !namespace || !serviceAccount)
    throw new UsageError("ca issue needs --dir DIR --namespace NS --service-account SA --out DIR");
  const ttlMs = parseDuration(one(a, "ttl")!);
  if (ttlMs === undefined || ttlMs <= 0)
    throw new UsageError(`--ttl "${one(a, "ttl")}" is not a positive duration such as 24h`);
  const id = issueWorkload(dir, out, { namespace, serviceAccount, ttlMs });
  io.out(id);
  return 0;
}
