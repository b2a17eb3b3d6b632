/**
 * The JSON each Bookinfo service answers with. Every answer says which version served it and
 * the versions of the hops below it (`versions`), so productpage can show the whole lane map of
 * one request. A hop that was not called is `null`; a hop that failed is `error:<what>`.
 */
import type { ServiceName } from "../topology.js";

/** Service → version that served it (`"v2"`), `null` (not called) or `"error:503"`. */
export type Versions = Partial<Record<ServiceName, string | null>>;

/** Every answer carries these two fields. */
export interface Served {
  /** `reviews-v2`. Also sent as header `x-bookinfo-served-by`. */
  served_by: string;
  versions: Versions;
}

export interface DetailsResponse extends Served {
  id: number;
  author: string;
  year: number;
  type: string;
  pages: number;
  publisher: string;
  language: string;
  "ISBN-10": string;
  "ISBN-13": string;
}

export interface RatingsResponse extends Served {
  id: number;
  ratings: Record<string, number>;
}

export type Rating = { stars: number; color: "black" | "red" } | { error: string };

export interface Review {
  reviewer: string;
  text: string;
  /** Absent from reviews v1, which shows no stars. */
  rating?: Rating;
}

export interface ReviewsResponse extends Served {
  id: number;
  reviews: Review[];
}

/** `GET /api/v1/lanes` on productpage: which version served each hop of this request. */
export interface LaneMap {
  productpage: string;
  details: string | null;
  reviews: string | null;
  ratings: string | null;
}
