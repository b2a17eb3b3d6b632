/** ratings: stars per reviewer. v1 (prod) gives 5 and 4 stars, v2 (gray) 1 and 2. Calls nothing. */
import type { RatingsResponse } from "./api-types.js";
import { RATINGS_BY_VERSION } from "./catalog.js";
import { idAfter, sendJson } from "./http-kit.js";
import type { ServiceDefinition } from "./service-definition.js";

export const ratings: ServiceDefinition = {
  service: "ratings",
  versions: { v1: "5 and 4 stars", v2: "1 and 2 stars" },
  async handle(ctx, _req, res, url) {
    if (!url.pathname.startsWith("/ratings/")) return false;
    const id = idAfter(url.pathname, "/ratings/");
    if (id === undefined) {
      sendJson(res, 400, { error: "product id must be a non-negative integer" });
      return true;
    }
    const body: RatingsResponse = {
      id,
      ratings: { ...RATINGS_BY_VERSION[ctx.version] },
      served_by: ctx.servedBy,
      versions: { ratings: ctx.version },
    };
    sendJson(res, 200, body);
    return true;
  },
};
