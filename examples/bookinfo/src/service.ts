/**
 * Entry point of every Bookinfo service process:
 *
 *   node dist/service.js --service reviews --version v2 --port 9122
 *   SERVICE=reviews VERSION=v2 PORT=9122 HTTP_PROXY=http://127.0.0.1:15222 node dist/service.js
 *
 * SIGTERM / SIGINT close the listener and exit 0.
 */
import { OptionsError, parseServiceOptions, USAGE } from "./services/options.js";
import { startService } from "./services/server.js";

async function run(): Promise<number> {
  let opts: ReturnType<typeof parseServiceOptions>;
  try {
    opts = parseServiceOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`bookinfo: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (opts === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Signal handlers go in before the "listening" line: whoever waits for that line may stop us at once.
  let running: Awaited<ReturnType<typeof startService>> | undefined;
  const stop = () => {
    setTimeout(() => process.exit(0), 2000).unref();
    if (running) running.close().then(() => process.exit(0));
    else process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  try {
    running = await startService(opts);
  } catch (err) {
    process.stderr.write(`bookinfo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const via = opts.proxy ? `via HTTP_PROXY ${opts.proxy.origin}` : "directly by name";
  process.stdout.write(
    `bookinfo ${opts.service} ${opts.version} listening on ${opts.bind}:${running.port} (calls ${via})\n`,
  );
  return -1;
}

run().then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bookinfo: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 2;
  },
);
