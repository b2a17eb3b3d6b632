/** Where a command writes and what environment it reads: injectable so tests run in-process. */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

// A reader that goes away (`lanecar validate dir | head`) is not an error of ours: stop quietly,
// as Unix tools do, instead of dying with a stack trace on EPIPE.
let pipeGuarded = false;
function guardPipes(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  for (const stream of [process.stdout, process.stderr])
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw err;
    });
}

export const processIo: Io = {
  out: (line) => {
    guardPipes();
    process.stdout.write(`${line}\n`);
  },
  err: (line) => {
    guardPipes();
    process.stderr.write(`${line}\n`);
  },
  env: process.env,
};
