/**
 * Walks the ASM story (tour-steps.ts) on a running demo: applies a step (start / kill
 * instances), then asks the gateway, as each kind of user, which version served every hop
 * (`GET /api/v1/lanes`) until the answers are what the step expects. `pnpm demo:tour` prints
 * it; the process-mode end-to-end test asserts it.
 */
import type { BookinfoRunner } from "./runner.js";
import { type Lanes, type TourStep, USERS, type UserKind } from "./tour-steps.js";

export interface LanesAnswer {
  status: number;
  /** The parsed body when it was a lane map; undefined otherwise. */
  lanes: Lanes | undefined;
  /** Raw body (for messages). */
  body: string;
  setCookie: string | null;
}

/** `GET /api/v1/lanes` through the gateway as `headers` would send it. */
export async function askLanes(gatewayUrl: string, headers: Record<string, string>): Promise<LanesAnswer> {
  const r = await fetch(`${gatewayUrl}/api/v1/lanes`, { headers, signal: AbortSignal.timeout(10_000) });
  const body = await r.text();
  let lanes: Lanes | undefined;
  try {
    const j = JSON.parse(body) as Lanes;
    if (typeof j === "object" && j !== null && "productpage" in j) lanes = j;
  } catch {
    // not JSON: a Lanecar local reply such as "no healthy upstream"
  }
  return { status: r.status, lanes, body, setCookie: r.headers.get("set-cookie") };
}

export function sameLanes(a: Lanes | undefined, b: Lanes): boolean {
  return (
    a !== undefined &&
    a.productpage === b.productpage &&
    a.details === b.details &&
    a.reviews === b.reviews &&
    a.ratings === b.ratings
  );
}

/** `productpage v1 · details v1 · reviews v2 · ratings v1` */
export function formatLanes(l: Lanes | undefined): string {
  if (!l) return "(no lane map)";
  return `productpage ${l.productpage} · details ${l.details} · reviews ${l.reviews} · ratings ${l.ratings ?? "—"}`;
}

export interface Observation {
  user: UserKind;
  answer: LanesAnswer;
  want: Lanes;
  ok: boolean;
}

/** One request per user kind. */
export async function observe(runner: BookinfoRunner, step: TourStep): Promise<Observation[]> {
  const out: Observation[] = [];
  for (const user of USERS) {
    const want = step.expect[user.name]!;
    const answer = await askLanes(runner.gatewayUrl, user.headers);
    out.push({ user, answer, want, ok: answer.status === 200 && sameLanes(answer.lanes, want) });
  }
  return out;
}

export interface StepResult {
  step: TourStep;
  /** The observations once every user saw what the step expects (or the last ones, at the deadline). */
  observations: Observation[];
  converged: boolean;
  /** Milliseconds from the end of the step's start/kill until every user saw the expected lanes. */
  settleMs: number;
  /** Every answer seen while waiting that was not a 200 lane map, or showed a failed hop. */
  failures: LanesAnswer[];
}

/** Starts / kills what the step says. */
export async function applyStep(runner: BookinfoRunner, step: TourStep): Promise<void> {
  for (const name of step.kill) await runner.kill(name);
  await runner.startAll(step.start);
}

/**
 * Asks until every user sees the step's lanes (health checks take a probe period or two to
 * notice an instance that came or went), at most `timeoutMs`.
 */
export async function awaitStep(
  runner: BookinfoRunner,
  step: TourStep,
  timeoutMs = 15_000,
): Promise<StepResult> {
  const t0 = Date.now();
  const failures: LanesAnswer[] = [];
  for (;;) {
    const observations = await observe(runner, step);
    for (const o of observations) {
      const failedHop =
        o.answer.lanes && Object.values(o.answer.lanes).some((v) => String(v).startsWith("error:"));
      if (o.answer.status !== 200 || !o.answer.lanes || failedHop) failures.push(o.answer);
    }
    const converged = observations.every((o) => o.ok);
    if (converged || Date.now() - t0 > timeoutMs)
      return { step, observations, converged, settleMs: Date.now() - t0, failures };
    await new Promise((r) => setTimeout(r, 200));
  }
}
