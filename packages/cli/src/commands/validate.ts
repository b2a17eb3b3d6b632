/** `lanecar validate PATH...`: exit 0 when valid; else exit 1 and one line per error. */
import { formatDiagnostic, hasErrors, loadSnapshot } from "@lanecar/core";
import { bool, type FlagSpec, namespaceFlag, parseArgs, usage } from "../args.js";
import type { Io } from "../io.js";

const FLAGS: FlagSpec[] = [
  {
    name: "namespace",
    short: "n",
    default: "default",
    help: "namespace for resources without metadata.namespace",
  },
  { name: "help", short: "h", boolean: true, help: "show this help" },
];

export async function validateCommand(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, FLAGS, io.env);
  if (bool(args, "help")) {
    io.out(usage("validate", "PATH...", FLAGS));
    return 0;
  }
  if (args.positionals.length === 0) {
    io.err(usage("validate", "PATH...", FLAGS));
    return 2;
  }
  const { snapshot, diagnostics } = loadSnapshot(args.positionals, { namespace: namespaceFlag(args) });
  for (const d of diagnostics) {
    if (d.severity === "error") io.out(formatDiagnostic(d));
    else io.err(formatDiagnostic(d));
  }
  if (hasErrors(diagnostics) || !snapshot) return 1;
  io.out(`valid: ${snapshot.resources.length} resources in ${snapshot.files.length} files`);
  return 0;
}
