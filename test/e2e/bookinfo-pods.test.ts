/**
 * The Bookinfo lanes demo in pod mode: each instance of `topology.ts` runs in its own network
 * namespace ("pod", own IP on a Linux bridge) with its app and its `lanecar sidecar`; the apps get
 * no HTTP_PROXY and call `http://reviews:9080/...` by name, which /etc/hosts sends to a service VIP
 * and `lanecar iptables`' capture rules redirect to the sidecar (UID 1337), as lanecar-init would.
 * The gateway is a pod of its own; this process reaches it by IP. Walks the tour of
 * `tour-steps.ts` (start, kill, restore instances) and asserts, for each kind of user, the lanes
 * of `/api/v1/lanes` and the product page exactly, while a background client checks that no GET
 * to the gateway fails. Mutual TLS is on as in `pnpm demo` (STRICT sidecars, ISTIO_MUTUAL):
 * plaintext to a pod is refused, and every sidecar shows its SPIFFE identity.
 *
 * Needs root and `ip netns` (CI runs as root); anywhere else it prints why and skips.
 */
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Lanes, TOUR, USERS } from "../../examples/bookinfo/src/demo/tour-steps.js";
import { laneOf, SERVICES, spiffeIdOf } from "../../examples/bookinfo/src/topology.js";
import { LANECAR_BIN } from "../support/lanecar.js";
import { cleanupStale, NetLab, netnsUnavailable } from "../support/netns.js";
import { APP_ENTRY, BookinfoPods, POD_PORTS } from "../support/pods.js";

const unavailable = await netnsUnavailable();
/** Mutual TLS runs on the codec only: the fallback-data-path project runs the pods as `--no-mtls`. */
const MTLS = process.env.LANECAR_DATA_PATH !== "node";
if (unavailable) console.warn(`bookinfo pod-mode e2e skipped: ${unavailable}`);

const STARS: Record<string, number[]> = { v1: [5, 4], v2: [1, 2] };
const STAR_COLOUR: Record<string, string | undefined> = { v1: undefined, v2: "black", v3: "red" };

async function get(url: string, headers: Record<string, string>) {
  const r = await fetch(url, { headers, redirect: "manual", signal: AbortSignal.timeout(10_000) });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

/** Background client: GETs through the gateway for every kind of user until stopped; collects failures. */
class Watcher {
  requests = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(base: string) {
    this.loop = (async () => {
      for (let k = 0; this.running; k++) {
        const user = USERS[k % USERS.length]!;
        const path = k % 4 === 3 ? "/productpage" : "/api/v1/lanes";
        try {
          const r = await get(`${base}${path}`, user.headers);
          if (r.status !== 200)
            this.failures.push(`${user.name} GET ${path}: ${r.status} ${r.text.slice(0, 200)}`);
        } catch (e) {
          this.failures.push(`${user.name} GET ${path}: ${(e as Error).message}`);
        }
        this.requests++;
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

function expectPage(html: string, lanes: Lanes, user: string): void {
  const where = `product page for ${user}`;
  expect(html, where).toContain(`data-productpage-version="${lanes.productpage}"`);
  for (const hop of SERVICES) {
    const m = new RegExp(`<tr data-hop="${hop}" data-version="([^"]*)" data-lane="([^"]*)">`).exec(html);
    expect(m, `${where}: row of ${hop}`).not.toBeNull();
    const version = lanes[hop];
    expect(m![1], `${where}: version of ${hop}`).toBe(version ?? "");
    if (version !== null) expect(m![2], `${where}: lane of ${hop}`).toBe(laneOf(hop, version));
  }
  expect(html, where).not.toContain("currently unavailable");
  const stars = [...html.matchAll(/data-stars="(\d)" data-color="(\w+)"/g)];
  const colour = STAR_COLOUR[lanes.reviews];
  if (colour === undefined) {
    expect(stars, `${where}: reviews ${lanes.reviews} shows no stars`).toEqual([]);
  } else {
    expect(
      stars.map((s) => Number(s[1])),
      `${where}: stars from ratings ${lanes.ratings}`,
    ).toEqual(STARS[lanes.ratings ?? ""]);
    expect(new Set(stars.map((s) => s[2])), `${where}: star colour`).toEqual(new Set([colour]));
  }
}

describe.skipIf(unavailable !== undefined)("Bookinfo lanes demo in pod mode (netns + iptables)", () => {
  let lab: NetLab | undefined;
  let pods: BookinfoPods;
  let watcher: Watcher | undefined;
  const started = Date.now();

  beforeAll(async () => {
    for (const f of [APP_ENTRY, fileURLToPath(new URL("../dist/main.js", pathToFileURL(LANECAR_BIN)))])
      if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm -s build\` first`);
    const stale = await cleanupStale();
    if (stale.length > 0) console.warn(`removed leftovers of crashed pod-mode runs: ${stale.join(", ")}`);
    lab = await NetLab.create();
    pods = await BookinfoPods.create(lab, MTLS);
    await pods.startGateway();
    console.log(`pods and gateway set up in ${Date.now() - started} ms (lab ${lab.prefix}, ${lab.net}.0/24)`);
  }, 60_000);

  afterAll(async () => {
    await watcher?.stop();
    if (pods) await pods.close();
    else await lab?.destroy();
    console.log(`bookinfo pod mode: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 30_000);

  for (const [index, step] of TOUR.entries()) {
    it(step.title, async () => {
      const t0 = Date.now();
      const took: string[] = [];
      const lap = (what: string, since: number) => took.push(`${what} ${Date.now() - since} ms`);
      try {
        let t = Date.now();
        await Promise.all(step.kill.map((n) => pods.kill(n)));
        await Promise.all(step.start.map((n) => pods.start(n)));
        lap("processes", t);
        t = Date.now();
        // Every running proxy must see the change (probes / outlier detection) before we assert.
        for (const n of step.kill) await pods.waitEndpoint(n, false, 20_000);
        for (const n of step.start) await pods.waitEndpoint(n, true, 25_000);
        lap("health", t);
        // The background client starts once the baseline serves, and runs through every later step.
        if (index === 0) watcher = new Watcher(pods.gatewayUrl);
        t = Date.now();

        for (const user of USERS) {
          const expected = step.expect[user.name]!;
          for (let k = 0; k < 3; k++) {
            const r = await get(`${pods.gatewayUrl}/api/v1/lanes`, user.headers);
            expect(r.status, `${user.name}: ${r.text}`).toBe(200);
            expect(JSON.parse(r.text), `${user.name} (${user.description})`).toEqual(expected);
          }
          const page = await get(`${pods.gatewayUrl}/productpage`, user.headers);
          expect(page.status, `${user.name}: product page`).toBe(200);
          expect(page.headers.get("x-bookinfo-served-by")).toBe(`productpage-${expected.productpage}`);
          expectPage(page.text, expected, user.name);
        }
        lap("asserts", t);
        expect(watcher!.failures, "GETs through the gateway that failed").toEqual([]);
      } catch (e) {
        console.error(`${step.title} failed; process output:\n${pods.logs()}`);
        throw e;
      }
      console.log(
        `${step.title}: ${Date.now() - t0} ms (${took.join(", ")}; ${watcher?.requests ?? 0} background GETs so far)`,
      );
    }, 60_000);
  }

  it("apps call by name without a proxy; iptables puts the sidecars on both sides", async () => {
    // The app has no HTTP_PROXY; it resolves reviews to a service VIP that only the capture rules serve.
    const env = pods.appEnviron("productpage-v1");
    expect(Object.keys(env).filter((k) => /^(https?|all)_proxy$/i.test(k))).toEqual([]);
    // The outbound calls went through productpage's sidecar (origin form, routed by Host), and
    // arrived at reviews through its sidecar inbound (port 9080 redirected to 15006).
    const metrics = async (name: string) =>
      (await get(`http://${pods.get(name).pod.ip}:${POD_PORTS.admin}/metrics`, {})).text;
    const count = (text: string, reporter: string, service: string) =>
      text
        .split("\n")
        .filter(
          (l) =>
            l.startsWith(`istio_requests_total{reporter="${reporter}"`) &&
            l.includes(`destination_service="${service}`) &&
            l.includes('response_code="200"'),
        )
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
    const pp = await metrics("productpage-v1");
    expect(count(pp, "source", "reviews"), pp).toBeGreaterThan(0);
    expect(count(pp, "source", "details"), pp).toBeGreaterThan(0);
    const rv = await metrics("reviews-v2");
    expect(count(rv, "destination", "reviews"), rv).toBeGreaterThan(0);
    expect(count(rv, "source", "ratings"), rv).toBeGreaterThan(0);
    // In the pod, the app listens on loopback only and the sidecar inbound on every address...
    const listening = await pods.listening("details-v1");
    expect(listening).toContain(`127.0.0.1:${POD_PORTS.app}`);
    expect(listening).toContain(`0.0.0.0:${POD_PORTS.inbound}`);
    expect(listening.filter((a) => a.endsWith(`:${POD_PORTS.app}`))).toEqual([`127.0.0.1:${POD_PORTS.app}`]);
    // ...so what answers on the pod IP's port 9080 is the app behind its sidecar (PREROUTING),
    // with mTLS on (STRICT) to a mesh client with mutual TLS only: plaintext gets no response.
    const health = await pods.podGet("details-v1", "/health");
    expect(health.status).toBe(200);
    expect(health.headers["x-bookinfo-served-by"]).toBe("details-v1");
    const plaintext = get(`http://${pods.get("details-v1").pod.ip}:${POD_PORTS.app}/health`, {});
    if (MTLS) await expect(plaintext).rejects.toThrow();
    else expect((await plaintext).status).toBe(200);
  });

  it(`mutual TLS ${MTLS ? "on: every sidecar presents its SPIFFE ID (STRICT), no plaintext served" : "off (fallback data path): no identity"}`, async () => {
    for (const name of ["productpage-v1", "reviews-v2", "ratings-v1", "details-v1"]) {
      const pod = pods.get(name);
      const dump = JSON.parse((await get(`http://${pod.pod.ip}:${POD_PORTS.admin}/config_dump`, {})).text);
      if (!MTLS) {
        expect(dump.workloadCertificate, name).toBeNull();
        continue;
      }
      expect(dump.workloadCertificate.spiffeId, name).toBe(spiffeIdOf(pod.instance));
      expect(dump.workloadCertificate.inboundMode, name).toBe("STRICT");
      expect(dump.workloadCertificate.accepted.tls, name).toBeGreaterThan(0);
      expect(dump.workloadCertificate.accepted.plaintext, name).toBe(0);
    }
  });
});
