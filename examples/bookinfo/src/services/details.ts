/** details: the book's author, year, publisher and ISBNs. Calls nothing. */
import type { DetailsResponse } from "./api-types.js";
import { BOOK_DETAILS } from "./catalog.js";
import { idAfter, sendJson } from "./http-kit.js";
import type { ServiceDefinition } from "./service-definition.js";

export const details: ServiceDefinition = {
  service: "details",
  versions: {
    v1: "book details",
    v2: "book details (same as v1; the seed's DestinationRule names a v2 subset)",
  },
  async handle(ctx, _req, res, url) {
    if (!url.pathname.startsWith("/details/")) return false;
    const id = idAfter(url.pathname, "/details/");
    if (id === undefined) {
      sendJson(res, 400, { error: "product id must be a non-negative integer" });
      return true;
    }
    const body: DetailsResponse = {
      id,
      ...BOOK_DETAILS,
      served_by: ctx.servedBy,
      versions: { details: ctx.version },
    };
    sendJson(res, 200, body);
    return true;
  },
};
