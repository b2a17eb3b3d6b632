/**
 * `lanecar injector --listen ADDR --tls-cert FILE --tls-key FILE`: the mutating admission webhook
 * (kube/injector-server.ts) that injects pods of namespaces labelled `lanecar-injection=enabled`
 * (the MutatingWebhookConfiguration's namespaceSelector does the label part). Runs until
 * SIGTERM/SIGINT.
 */
import { parseListen } from "@lanecar/proxy";
import { bool, type FlagSpec, one, parseArgs, UsageError, usage } from "../args.js";
import type { Io } from "../io.js";
import { startInjector } from "../kube/injector-server.js";
import { INJECT_FLAGS, injectOptions } from "./inject.js";

const FLAGS: FlagSpec[] = [
  { name: "listen", default: "0.0.0.0:9443", help: "HTTPS listener (POST /inject, GET /healthz)" },
  { name: "tls-cert", help: "certificate (PEM), re-read when it changes" },
  { name: "tls-key", help: "private key (PEM), re-read when it changes" },
  ...INJECT_FLAGS.filter((f) => f.name !== "filename"),
];

export async function injectorCommand(argv: string[], io: Io): Promise<number> {
  const a = parseArgs(argv, FLAGS, io.env);
  if (bool(a, "help")) {
    io.out(usage("injector", "--tls-cert FILE --tls-key FILE [flags]", FLAGS));
    return 0;
  }
  if (a.positionals.length > 0) throw new UsageError(`unexpected argument "${a.positionals[0]}"`);
  const certFile = one(a, "tls-cert");
  const keyFile = one(a, "tls-key");
  if (!certFile || !keyFile) throw new UsageError("--tls-cert FILE and --tls-key FILE are required");
  let listen: { host: string; port: number };
  try {
    listen = parseListen(one(a, "listen")!);
  } catch (err) {
    throw new UsageError(`--listen: ${(err as Error).message}`);
  }
  const inject = injectOptions(a);
  let injector: Awaited<ReturnType<typeof startInjector>>;
  try {
    injector = await startInjector({ listen, certFile, keyFile, inject, log: io.err });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    io.err(`lanecar injector: ${e.code === "ENOENT" ? `cannot read ${e.path}` : e.message.split("\n")[0]}`);
    return 1;
  }
  const { address, port } = injector.address;
  io.err(`lanecar injector ready: https://${address}:${port}/inject image=${inject.image}`);
  return new Promise<number>((resolve) => {
    const stop = () => injector.close().then(() => resolve(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}
