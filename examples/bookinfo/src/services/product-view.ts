/**
 * Everything productpage shows for one request: the product, the details and reviews calls
 * (made in parallel, each through the sidecar), and the lane map built from the versions each
 * hop reported.
 */
import type { IncomingMessage } from "node:http";
import { LANE_LABEL } from "../topology.js";
import type { DetailsResponse, LaneMap, ReviewsResponse } from "./api-types.js";
import type { Product } from "./catalog.js";
import type { CallResult } from "./downstream.js";
import { cookie, header } from "./http-kit.js";
import { END_USER, forwardedHeaders } from "./propagation.js";
import type { ServiceContext } from "./service-definition.js";

/** Cookie set by `POST /login`; productpage turns it into the `end-user` header, as Bookinfo does. */
export const USER_COOKIE = "user";

export interface ProductView {
  product: Product;
  details: CallResult<DetailsResponse>;
  reviews: CallResult<ReviewsResponse>;
  lanes: LaneMap;
  /** Signed-in user (cookie `user`) or the `end-user` header the client sent. */
  user: string | undefined;
  /** Shown on the page so a person can find this request in sidecar logs and metrics. */
  requestId: string | undefined;
  /** The lane label this request arrived with (read for display only; never forwarded by the app). */
  laneLabel: string | undefined;
}

const USER_NAME = /^[A-Za-z0-9._-]{1,32}$/;

export function isValidUserName(s: string): boolean {
  return USER_NAME.test(s);
}

export function currentUser(req: IncomingMessage): string | undefined {
  const fromHeader = header(req, END_USER);
  if (fromHeader && isValidUserName(fromHeader)) return fromHeader;
  const fromCookie = cookie(req, USER_COOKIE);
  return fromCookie && isValidUserName(fromCookie) ? fromCookie : undefined;
}

export function laneMap(
  version: string,
  details: CallResult<DetailsResponse>,
  reviews: CallResult<ReviewsResponse>,
): LaneMap {
  return {
    productpage: version,
    details: details.ok ? (details.body.versions?.details ?? "unknown") : details.error,
    reviews: reviews.ok ? (reviews.body.versions?.reviews ?? "unknown") : reviews.error,
    ratings: reviews.ok ? (reviews.body.versions?.ratings ?? null) : null,
  };
}

export async function fetchProductView(
  ctx: ServiceContext,
  req: IncomingMessage,
  product: Product,
): Promise<ProductView> {
  const headers = forwardedHeaders(req.headers);
  const user = currentUser(req);
  if (user && headers[END_USER] === undefined) headers[END_USER] = user;
  const [details, reviews] = await Promise.all([
    ctx.downstream.getJson<DetailsResponse>("details", `/details/${product.id}`, headers),
    ctx.downstream.getJson<ReviewsResponse>("reviews", `/reviews/${product.id}`, headers),
  ]);
  return {
    product,
    details,
    reviews,
    lanes: laneMap(ctx.version, details, reviews),
    user,
    requestId: header(req, "x-request-id"),
    laneLabel: header(req, LANE_LABEL),
  };
}
