/**
 * `pnpm demo`: Bookinfo with traffic lanes on this machine. Starts every instance (app + its
 * Lanecar sidecar) and the gateway on 127.0.0.1:8080, waits until all are ready, prints what
 * runs where and what to try, and runs until Ctrl-C, which stops everything.
 *
 *   pnpm demo               everything (prod, gray and dev lanes)
 *   pnpm demo --baseline    only the prod lane (v1 of every service), as the tour's first step
 *   pnpm demo --free-ports  free ports instead of the plan (beside another demo; the tests use it)
 *   pnpm demo --no-mtls     plaintext between the proxies (mutual TLS is on by default)
 */
import { GATEWAY, INSTANCES, type Instance, LANE_LABEL, spiffeIdOf } from "../topology.js";
import { BookinfoRunner } from "./runner.js";

const FLAGS = ["--baseline", "--free-ports", "--no-mtls"];

const USAGE = `usage: pnpm demo [--baseline] [--free-ports] [--no-mtls]
  starts the Bookinfo lanes demo on 127.0.0.1:8080; Ctrl-C stops it.
  --baseline     start only the prod lane (v1 of every service)
  --free-ports   use free ports instead of the port plan (the gateway's is printed)
  --no-mtls      plaintext between gateway and sidecars (default: mutual TLS, STRICT)`;

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const unknown = argv.filter((a) => !FLAGS.includes(a) && a !== "--");
  if (unknown.length > 0) {
    process.stderr.write(`demo: unknown argument "${unknown[0]}"\n${USAGE}\n`);
    return 2;
  }
  const baseline = argv.includes("--baseline");
  const say = (s: string) => process.stdout.write(`${s}\n`);

  let runner: BookinfoRunner;
  try {
    runner = await BookinfoRunner.create({
      ports: argv.includes("--free-ports") ? "free" : "default",
      mtls: !argv.includes("--no-mtls"),
      log: (l) => say(`  ${l}`),
    });
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    return 1;
  }

  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    if (!stopping) {
      say(`\n${why}: stopping every process...`);
      stopping = runner.stopAll().then(() => {
        say("stopped; nothing is left running.");
        process.exit(0);
      });
    }
    return stopping;
  };
  process.on("SIGINT", () => void stop("Ctrl-C"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  const chosen = INSTANCES.filter((i) => !baseline || i.baseline);
  say(
    `Starting Bookinfo with traffic lanes: ${chosen.length} instances, each with its Lanecar sidecar, and the gateway.`,
  );
  try {
    await runner.startAll(chosen.map((i) => i.name));
    await runner.startGateway();
  } catch (err) {
    const message = (err as Error).message;
    // On a Node where only the node:http fallback runs, the proxies refuse mutual TLS at start.
    const hint = message.includes("mutual TLS runs only on")
      ? "mutual TLS needs Lanecar's HTTP/1.1 codec, which cannot run on this Node: try pnpm demo --no-mtls\n"
      : "";
    process.stderr.write(`demo: ${message}\n${hint}(logs in ${runner.logDir})\n`);
    await runner.stopAll();
    return 1;
  }

  const url = runner.gatewayUrl;
  const rows = chosen.map((i) => {
    const p = runner.portsOf(i.name);
    const pids = runner.pidsOf(i.name);
    return `  ${i.name.padEnd(15)} ${i.lane.padEnd(5)} app :${p.app}  sidecar in :${p.inbound} out :${p.outbound} admin :${p.admin}  pids ${pids?.app}/${pids?.sidecar}  ${i.summary}`;
  });
  say(`
Ready. What runs where (everything on 127.0.0.1; logs in ${runner.logDir}):
  gateway         edge  listen :${runner.gatewayPort}  admin :${runner.gatewayAdminPort}
${rows.join("\n")}

Try:
  open ${url}/productpage
      sign in as "jason" to be put in the gray lane
  curl -s ${url}/api/v1/lanes -H 'end-user: jason'
      gray: productpage v2, details v1 (no gray), reviews v2, ratings v2
  curl -s ${url}/api/v1/lanes -H '${LANE_LABEL}: dev'
      dev: reviews v3; the hops without a dev instance fall back to prod
  curl -s -c /tmp/lanecar-jar -b /tmp/lanecar-jar ${url}/api/v1/lanes
      a new visitor: 90% prod, 10% gray, drawn once and then sticky (cookie "lane")
  curl -s 'localhost:${runner.gatewayAdminPort}/clusters?format=json'
      endpoints and their health, as the gateway sees them (every sidecar has the same on its admin port)
  pnpm exec lanecar explain --config examples/bookinfo/config --gateway ${GATEWAY.name} \\
      --request "GET ${url}/productpage" -H "end-user: jason"
      why the gateway sends jason where it does
${mtlsNote(runner, chosen)}
See fallback: kill the reviews-v2 sidecar (its pid above): within a probe period jason's reviews
come from v1 again while ratings stays gray. The config in examples/bookinfo/config is watched: edit
it and the change applies without a restart. Or run the scripted walkthrough: pnpm demo:tour

Ctrl-C stops everything.`);
  await new Promise(() => {});
  return 0;
}

/** How to see mutual TLS at work (or that it is off). */
function mtlsNote(runner: BookinfoRunner, chosen: readonly Instance[]): string {
  const ids = runner.identities;
  if (!ids)
    return "Mutual TLS is off (--no-mtls): proxies talk plaintext (DestinationRules tls DISABLE, no PeerAuthentication).\n";
  const reviews = chosen.find((i) => i.service === "reviews") ?? chosen[0]!;
  const p = runner.portsOf(reviews.name);
  return `Mutual TLS (STRICT) between the gateway and every sidecar: each has its own certificate
(${ids.instances.get(reviews.name)}/cert.pem for ${spiffeIdOf(reviews)}).
  curl -s localhost:${p.admin}/config_dump | node -pe 'JSON.parse(require("fs").readFileSync(0)).workloadCertificate'
      the identity ${reviews.name}'s sidecar presents
  curl -v http://127.0.0.1:${p.inbound}/health
      plaintext straight to a sidecar is refused (connection closed, no response)
  openssl s_client -connect 127.0.0.1:${p.inbound} -CAfile ${ids.caDir}/root-cert.pem </dev/null | openssl x509 -noout -ext subjectAltName
      the SPIFFE ID in the certificate; without a client certificate the sidecar ends the handshake
  pnpm demo --no-mtls runs the same demo in plaintext.
`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
