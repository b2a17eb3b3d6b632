/**
 * `lanecar inject -f FILE|-`: like `istioctl kube-inject`, writes the manifests with the Lanecar
 * sidecar injected into every workload to stdout (kube/inject-manifests.ts); what it left alone
 * and why goes to stderr.
 */
import { readFileSync } from "node:fs";
import { bool, type FlagSpec, one, type ParsedArgs, parseArgs, UsageError, usage } from "../args.js";
import type { Io } from "../io.js";
import { DEFAULT_TRUST_DOMAIN, IDENTITY_SOURCES, type IdentitySource } from "../kube/inject-identity.js";
import { injectManifests, ManifestError } from "../kube/inject-manifests.js";
import { DEFAULT_IMAGE, type InjectOptions } from "../kube/inject-pod.js";

export const INJECT_FLAGS: FlagSpec[] = [
  { name: "filename", short: "f", help: "manifests to inject (multi-document YAML), - for stdin" },
  { name: "image", default: DEFAULT_IMAGE, help: "the lanecar image of the injected containers" },
  { name: "classic-sidecar", boolean: true, help: "sidecar as a regular container (Kubernetes < 1.29)" },
  {
    name: "config-source",
    default: "kubernetes",
    help: "kubernetes (discovery from the API) or a config path inside the container",
  },
  {
    name: "identity",
    default: "csi-driver-spiffe",
    help: "workload identity (mutual TLS): csi-driver-spiffe (cert-manager's CSI volume) or none",
  },
  {
    name: "trust-domain",
    default: DEFAULT_TRUST_DOMAIN,
    help: "the SPIFFE trust domain csi-driver-spiffe issues for",
  },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

/** The injection options of `inject` and `injector` flags (shared so both inject the same pod). */
export function injectOptions(a: ParsedArgs): InjectOptions {
  const image = one(a, "image")!;
  if (!image || /\s/.test(image)) throw new UsageError(`--image "${image}" is not an image reference`);
  const configSource = one(a, "config-source")!;
  if (configSource !== "kubernetes" && !configSource.startsWith("/"))
    throw new UsageError(`--config-source "${configSource}" is neither kubernetes nor an absolute path`);
  const identity = one(a, "identity")! as IdentitySource;
  if (!IDENTITY_SOURCES.includes(identity))
    throw new UsageError(`--identity "${identity}" is not one of ${IDENTITY_SOURCES.join(", ")}`);
  const trustDomain = one(a, "trust-domain")!;
  if (!/^[a-z0-9._-]{1,255}$/.test(trustDomain))
    throw new UsageError(`--trust-domain "${trustDomain}" is not a valid trust domain`);
  return { image, classicSidecar: bool(a, "classic-sidecar"), configSource, identity, trustDomain };
}

function readInput(file: string): string {
  try {
    return readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw new UsageError(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export async function injectCommand(argv: string[], io: Io): Promise<number> {
  const a = parseArgs(argv, INJECT_FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(usage("inject", "-f FILE|- [flags]", INJECT_FLAGS));
    return 0;
  }
  const file = one(a, "filename") ?? a.positionals[0];
  if (!file) throw new UsageError("-f FILE (or - for stdin) is required");
  const opts = injectOptions(a);
  try {
    const { output, report } = injectManifests(readInput(file), file === "-" ? "<stdin>" : file, opts);
    io.out(output.replace(/\n$/, ""));
    for (const s of report.skipped) io.err(`lanecar inject: not injected: ${s}`);
    return 0;
  } catch (err) {
    if (err instanceof ManifestError) {
      io.err(`lanecar inject: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
