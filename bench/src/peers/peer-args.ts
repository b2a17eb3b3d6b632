/** Flags every peer proxy takes: `--port P --target http://127.0.0.1:U`; prints "LISTENING <port>". */
import type { Server } from "node:http";

export function peerArgs(argv: string[] = process.argv.slice(2)): { port: number; target: string } {
  const get = (n: string) => {
    const i = argv.indexOf(`--${n}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const target = get("target");
  if (!target) throw new Error("--target URL is required");
  return { port: Number(get("port") ?? 0), target };
}

export function announce(server: Server): void {
  const a = server.address();
  process.stdout.write(`LISTENING ${typeof a === "object" && a ? a.port : 0}\n`);
  process.on("SIGTERM", () => process.exit(0));
}
