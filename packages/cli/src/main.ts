/**
 * The `lanecar` command: `sidecar | gateway | validate | explain`. Each subcommand lives in
 * commands/; this file only dispatches and turns usage errors into exit code 2.
 */
import { UsageError } from "./args.js";
import { explainCommand } from "./commands/explain.js";
import { validateCommand } from "./commands/validate.js";
import { type Io, processIo } from "./io.js";

type Command = (argv: string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, { run: Command; help: string }> = {
  // The data plane is loaded only by the commands that run it, so validate/explain stay light.
  sidecar: {
    run: async (argv, io) => (await import("./commands/serve.js")).sidecarCommand(argv, io),
    help: "run beside an app: inbound + outbound listeners",
  },
  gateway: {
    run: async (argv, io) => (await import("./commands/serve.js")).gatewayCommand(argv, io),
    help: "run at the edge: route by Gateway + VirtualServices",
  },
  "lane-token": {
    run: async (argv, io) => (await import("./commands/lane-token.js")).laneTokenCommand(argv, io),
    help: "mint a signed token that admits a tester to a lane at the gateway",
  },
  ca: {
    run: async (argv, io) => (await import("./commands/ca.js")).caCommand(argv, io),
    help: "a file-based CA for laptops and tests: ca init | ca issue (workload certificates)",
  },
  validate: { run: validateCommand, help: "check config files; exit 1 with one line per error" },
  explain: { run: explainCommand, help: "show where a request goes and why" },
};

function topUsage(): string {
  return [
    "usage: lanecar <command> [flags]",
    "",
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.help}`),
    "",
    "Run `lanecar <command> --help` for a command's flags.",
  ].join("\n");
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    (name ? io.out : io.err)(topUsage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`lanecar: unknown command "${name}"\n${topUsage()}`);
    return 2;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`lanecar ${name}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
