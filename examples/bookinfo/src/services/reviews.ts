/**
 * reviews: two reviews of the book. Every version calls ratings; v1 shows no stars, v2 black stars,
 * v3 red stars. (The real Bookinfo reviews v1 skips the ratings call. Ours makes it so the lane
 * tour can show a hop that fell back to prod handing the request back to its lane at ratings.)
 * A failed ratings call is shown, not thrown.
 */
import type { RatingsResponse, Review, ReviewsResponse, Versions } from "./api-types.js";
import { REVIEWS } from "./catalog.js";
import { idAfter, sendJson } from "./http-kit.js";
import { forwardedHeaders } from "./propagation.js";
import type { ServiceDefinition } from "./service-definition.js";

const STAR_COLOUR: Readonly<Record<string, "black" | "red" | undefined>> = {
  v1: undefined,
  v2: "black",
  v3: "red",
};

export const RATINGS_UNAVAILABLE = "Ratings service is currently unavailable";

export const reviews: ServiceDefinition = {
  service: "reviews",
  versions: { v1: "no stars", v2: "black stars", v3: "red stars" },
  async handle(ctx, req, res, url) {
    if (!url.pathname.startsWith("/reviews/")) return false;
    const id = idAfter(url.pathname, "/reviews/");
    if (id === undefined) {
      sendJson(res, 400, { error: "product id must be a non-negative integer" });
      return true;
    }
    const colour = STAR_COLOUR[ctx.version];
    const versions: Versions = { reviews: ctx.version, ratings: null };
    let list: Review[];
    const r = await ctx.downstream.getJson<RatingsResponse>(
      "ratings",
      `/ratings/${id}`,
      forwardedHeaders(req.headers),
    );
    if (r.ok) {
      versions.ratings = r.body.versions?.ratings ?? "unknown";
      list = REVIEWS.map((rev) => {
        if (colour === undefined) return { ...rev };
        const stars = r.body.ratings?.[rev.reviewer];
        return typeof stars === "number"
          ? { ...rev, rating: { stars, color: colour } }
          : { ...rev, rating: { error: RATINGS_UNAVAILABLE } };
      });
    } else {
      versions.ratings = r.error;
      list = REVIEWS.map((rev) =>
        colour === undefined ? { ...rev } : { ...rev, rating: { error: RATINGS_UNAVAILABLE } },
      );
    }
    const body: ReviewsResponse = { id, reviews: list, served_by: ctx.servedBy, versions };
    sendJson(res, 200, body);
    return true;
  },
};
