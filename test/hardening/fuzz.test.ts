/**
 * Issue 6, item 9: random mutations of valid requests (bounded: LANECAR_FUZZ_MS, default 3 s;
 * seed LANECAR_FUZZ_SEED, printed on failure), sent to the sidecar's inbound and outbound
 * listeners and to the gateway. The proxy never crashes and never forwards anything that does
 * not parse — strictly — as complete valid requests: the recording upstream checks every byte.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, type Started, startListenersFor } from "./support/proxy.js";
import { prng, rawExchange, statuses } from "./support/raw-client.js";
import { type RecordingUpstream, startRecordingUpstream } from "./support/recording-upstream.js";

const FUZZ_MS = Number(process.env.LANECAR_FUZZ_MS ?? 3000);
const SEED = Number(process.env.LANECAR_FUZZ_SEED ?? Date.now() % 2 ** 31);
const CONCURRENCY = 8;

const H = "Host: up:9080\r\n";
const SEEDS = [
  `GET /a?b=c HTTP/1.1\r\n${H}User-Agent: fuzz\r\nAccept: */*\r\nx-request-id: abc\r\n\r\n`,
  `POST /p HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello`,
  `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nx-trailer: t\r\n\r\n`,
  `GET /1 HTTP/1.1\r\n${H}\r\nPOST /2 HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nxyzGET /3 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  `PUT /u HTTP/1.1\r\n${H}Connection: keep-alive, x-drop\r\nx-drop: 1\r\nbaggage: k=v\r\nContent-Length: 2\r\n\r\nok`,
];
const BYTES = ["\r", "\n", "\0", " ", "\t", ":", ",", ";", "0", "f", "-", "a", "\x7f", "\xff", "\x01", "H"];
const PIECES = [
  "\r\n",
  "\n",
  "\r",
  "\r\n\r\n",
  "Transfer-Encoding: chunked\r\n",
  "Transfer-Encoding: xchunked\r\n",
  "Content-Length: 3\r\n",
  "Content-Length: -1\r\n",
  "Content-Length: 99999999999999999999\r\n",
  " chunked",
  "\r\n ",
  "\r\n\t",
  "Host: other\r\n",
  "GET / HTTP/1.1\r\n",
  "0\r\n\r\n",
  "ffffffffffffffff\r\n",
  "%00",
];

function mutate(rand: () => number, input: string): string {
  let s = input;
  const n = 1 + Math.floor(rand() * 4);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (s.length + 1));
    switch (Math.floor(rand() * 6)) {
      case 0:
        s = s.slice(0, at) + pick(BYTES) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + pick(BYTES) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + pick(PIECES) + s.slice(at);
        break;
      case 3:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8));
        break;
      case 4: {
        // Duplicate a line.
        const lines = s.split("\r\n");
        const k = Math.floor(rand() * lines.length);
        lines.splice(k, 0, lines[k]!);
        s = lines.join("\r\n");
        break;
      }
      default:
        s = s.slice(0, at);
    }
  }
  return s;
}

describe("fuzzing", () => {
  let up: RecordingUpstream;
  let sc: Started;
  let gw: Started;
  beforeAll(async () => {
    up = await startRecordingUpstream("echo");
    ({ sc, gw } = await startListenersFor(up.port));
  });
  afterAll(async () => {
    await sc?.stop();
    await gw?.stop();
    await up?.close();
  });

  it(
    `mutated requests never crash the proxy or reach the upstream malformed (seed ${SEED})`,
    async () => {
      const rand = prng(SEED);
      const until = Date.now() + FUZZ_MS;
      let cases = 0;
      const accepted = new Map<number, number>();
      const worker = async () => {
        while (Date.now() < until && cases < 100_000) {
          const input = mutate(rand, SEEDS[Math.floor(rand() * SEEDS.length)]!);
          const pick = rand();
          const port = pick < 1 / 3 ? sc.port : pick < 2 / 3 ? sc.outbound : gw.port;
          cases++;
          const r = await rawExchange(port, Buffer.from(input, "latin1"), 150);
          for (const s of statuses(r.data)) accepted.set(s, (accepted.get(s) ?? 0) + 1);
          if (up.errors.length > 0) {
            throw new Error(
              `seed ${SEED}: forwarded malformed bytes for input ${JSON.stringify(input)}: ${JSON.stringify(up.errors[0])}`,
            );
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      await new Promise((r) => setTimeout(r, 200));
      expect(up.errors, `seed ${SEED}`).toEqual([]);
      expect(alive(sc), `seed ${SEED}: sidecar died: ${sc.running.stderr()}`).toBe(true);
      expect(alive(gw), `seed ${SEED}: gateway died: ${gw.running.stderr()}`).toBe(true);
      expect(cases).toBeGreaterThan(100);
      // Both outcomes happened: the fuzzer is not only producing garbage, nor only valid input.
      expect(accepted.get(400) ?? 0).toBeGreaterThan(0);
      expect(up.requests.length).toBeGreaterThan(0);
      // Still serving.
      const ok = await rawExchange(sc.outbound, `GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(statuses(ok.data)).toEqual([200]);
    },
    FUZZ_MS + 20_000,
  );
});
