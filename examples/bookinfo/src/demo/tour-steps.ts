/**
 * The ASM walkthrough as data: each step of the tour says which instances run and what each kind
 * of user must see at every hop (`/api/v1/lanes`). `pnpm demo:tour` prints it; the process-mode
 * and pod-mode end-to-end suites assert it exactly. reviews v1 calls ratings (numbers, no stars)
 * so a hop that fell back to prod shows the next hop returning to the lane.
 */

export type Lanes = { productpage: string; details: string; reviews: string; ratings: string | null };

/** Who is asking: the headers/cookies a client sends. */
export interface UserKind {
  name: string;
  description: string;
  headers: Record<string, string>;
}

export const USERS: readonly UserKind[] = [
  {
    name: "prod-user",
    description: "a user pinned to prod (cookie lane=prod)",
    headers: { cookie: "lane=prod" },
  },
  {
    name: "gray-header",
    description: "a tester sending x-asm-prefer-tag: gray",
    headers: { "x-asm-prefer-tag": "gray" },
  },
  {
    name: "jason",
    description: "end-user: jason (the gateway puts him in gray)",
    headers: { "end-user": "jason" },
  },
];

export interface TourStep {
  title: string;
  /** What a person should notice. */
  story: string;
  /** Instances (`reviews-v2`) started before this step. */
  start: readonly string[];
  /** Instances killed before this step (processes stopped; their config stays, so `noavailabled`). */
  kill: readonly string[];
  /** Expected lanes per user kind name. */
  expect: Readonly<Record<string, Lanes>>;
}

const PROD: Lanes = { productpage: "v1", details: "v1", reviews: "v1", ratings: "v1" };

function same(l: Lanes): Record<string, Lanes> {
  return { "prod-user": PROD, "gray-header": l, jason: l };
}

export const BASELINE_INSTANCES = ["productpage-v1", "details-v1", "reviews-v1", "ratings-v1"] as const;

export const TOUR: readonly TourStep[] = [
  {
    title: "1. Baseline only",
    story: "Only prod (v1) runs. Gray users fall back to prod at every hop.",
    start: BASELINE_INSTANCES,
    kill: [],
    expect: same(PROD),
  },
  {
    title: "2. reviews v2 started",
    story:
      "Gray users now see black stars from reviews v2; ratings has no gray instance yet, so it stays prod.",
    start: ["reviews-v2"],
    kill: [],
    expect: same({ productpage: "v1", details: "v1", reviews: "v2", ratings: "v1" }),
  },
  {
    title: "3. ratings v2 started",
    story: "Gray users now get ratings from ratings v2 as well: the whole chain is gray where it can be.",
    start: ["ratings-v2"],
    kill: [],
    expect: same({ productpage: "v1", details: "v1", reviews: "v2", ratings: "v2" }),
  },
  {
    title: "4. reviews v2 killed",
    story:
      "reviews v2 is down: gray users fall back to prod reviews v1, and the next hop, ratings, is gray again.",
    start: [],
    kill: ["reviews-v2"],
    expect: same({ productpage: "v1", details: "v1", reviews: "v1", ratings: "v2" }),
  },
  {
    title: "5. reviews v2 restored",
    story: "reviews v2 is back: gray users see black stars again.",
    start: ["reviews-v2"],
    kill: [],
    expect: same({ productpage: "v1", details: "v1", reviews: "v2", ratings: "v2" }),
  },
];
