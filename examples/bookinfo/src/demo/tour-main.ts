/**
 * `pnpm demo:tour`: the ASM full-link gray release walkthrough, step by step, on local processes.
 * Starts the baseline (prod) and the gateway, then at each step starts or stops instances and
 * shows, for a prod user, a tester sending `x-asm-prefer-tag: gray`, and `end-user: jason`, which
 * version served every hop. Exits 0 when every step showed what it should, 1 otherwise; stops
 * every process it started either way (Ctrl-C too).
 *
 * It uses the demo's ports (gateway 127.0.0.1:8080) when they are free, else free ports, so it
 * also runs beside a `pnpm demo`.
 */
import { BookinfoRunner } from "./runner.js";
import { applyStep, awaitStep, formatLanes } from "./tour.js";
import { TOUR } from "./tour-steps.js";

const say = (s: string) => process.stdout.write(`${s}\n`);

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    say("usage: pnpm demo:tour\n  walks the ASM gray-release story on local processes and checks every step");
    return 0;
  }
  let runner: BookinfoRunner;
  try {
    runner = await BookinfoRunner.create();
  } catch {
    runner = await BookinfoRunner.create({ ports: "free" });
    say("(the demo's ports are in use, probably by `pnpm demo`: the tour runs on free ports)");
  }
  const cleanup = () => {
    say("\nstopping...");
    void runner.stopAll().then(() => process.exit(130));
  };
  process.once("SIGINT", cleanup);
  process.once("SIGTERM", cleanup);

  let failed = 0;
  try {
    for (const step of TOUR) {
      say(`\n── ${step.title} ${"─".repeat(Math.max(3, 70 - step.title.length))}`);
      say(`   ${step.story}`);
      for (const name of step.kill) say(`   stop  ${name} (app and sidecar)`);
      for (const name of step.start) say(`   start ${name}`);
      await applyStep(runner, step);
      if (step === TOUR[0]) {
        await runner.startGateway();
        say(`   gateway listening on ${runner.gatewayUrl}`);
      }
      const r = await awaitStep(runner, step);
      for (const o of r.observations) {
        const mark = o.ok ? "✓" : "✗";
        say(`   ${mark} ${o.user.description.padEnd(48)} ${formatLanes(o.answer.lanes)}`);
        if (!o.ok) say(`       expected ${" ".repeat(36)}${formatLanes(o.want)}   (HTTP ${o.answer.status})`);
      }
      if (r.converged) say(`   (settled in ${(r.settleMs / 1000).toFixed(1)} s)`);
      else {
        failed++;
        say(`   did not settle within 15 s; logs are in ${runner.logDir}`);
      }
    }
  } finally {
    await runner.stopAll();
  }
  say(
    failed === 0
      ? `\nEvery step showed what it should (${TOUR.length} steps). Every process is stopped.`
      : `\n${failed} step(s) did not show what they should.`,
  );
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`demo:tour: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
