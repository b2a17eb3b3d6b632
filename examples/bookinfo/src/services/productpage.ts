/**
 * productpage: the page people see. Calls details and reviews (in parallel) for every page and
 * API request, forwarding only trace headers and `end-user`. v1 is production, v2 the gray
 * release (same data, a different look).
 *
 * | route                              | answer                                              |
 * | ---------------------------------- | --------------------------------------------------- |
 * | `GET /productpage`                 | the HTML page                                       |
 * | `GET /api/v1/lanes`                | `{"productpage","details","reviews","ratings"}` versions of this request |
 * | `GET /api/v1/products`             | the product list                                    |
 * | `GET /api/v1/products/<id>`        | product, details, reviews and versions as JSON      |
 * | `GET /api/v1/products/<id>/reviews`| the reviews service's answer                        |
 * | `POST /login`, `GET /logout`       | sets / clears the `user` cookie (form field `username`) |
 */
import type { LaneMap } from "./api-types.js";
import { findProduct, PRODUCTS } from "./catalog.js";
import { idAfter, readBody, redirect, sendHtml, sendJson, sendText } from "./http-kit.js";
import { renderIndex, renderProductPage } from "./product-page-html.js";
import { fetchProductView, isValidUserName, USER_COOKIE } from "./product-view.js";
import type { ServiceDefinition } from "./service-definition.js";

const DEFAULT_PRODUCT = 0;

export const productpage: ServiceDefinition = {
  service: "productpage",
  versions: { v1: "the classic page", v2: "the new page (gray lane banner)" },
  async handle(ctx, req, res, url) {
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (path === "/login") {
      if (method !== "POST") {
        sendText(res, 405, "use POST /login with form field username", { allow: "POST" });
        return true;
      }
      const form = new URLSearchParams(await readBody(req));
      const name = (form.get("username") ?? "").trim();
      if (!isValidUserName(name)) {
        sendText(res, 400, "username must be 1-32 characters of A-Z a-z 0-9 . _ -");
        return true;
      }
      redirect(res, "/productpage", { "set-cookie": `${USER_COOKIE}=${name}; Path=/; SameSite=Lax` });
      return true;
    }
    if (method !== "GET" && method !== "HEAD") {
      sendText(res, 405, "method not allowed", { allow: "GET, HEAD" });
      return true;
    }
    if (path === "/logout") {
      redirect(res, "/productpage", { "set-cookie": `${USER_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax` });
      return true;
    }
    if (path === "/" || path === "/index.html") {
      sendHtml(res, 200, renderIndex(ctx.version));
      return true;
    }

    const product = findProduct(DEFAULT_PRODUCT)!;
    if (path === "/productpage") {
      const view = await fetchProductView(ctx, req, product);
      sendHtml(res, 200, renderProductPage(view, ctx.version), { "cache-control": "no-store" });
      return true;
    }
    if (path === "/api/v1/lanes") {
      const view = await fetchProductView(ctx, req, product);
      const body: LaneMap = view.lanes;
      sendJson(res, 200, body, { "cache-control": "no-store" });
      return true;
    }
    if (path === "/api/v1/products") {
      sendJson(res, 200, PRODUCTS);
      return true;
    }
    if (path.startsWith("/api/v1/products/")) {
      const reviewsOnly = path.endsWith("/reviews");
      const id = idAfter(reviewsOnly ? path.slice(0, -"/reviews".length) : path, "/api/v1/products/");
      const p = id === undefined ? undefined : findProduct(id);
      if (!p) {
        sendJson(res, 404, { error: "please provide a valid product id" });
        return true;
      }
      const view = await fetchProductView(ctx, req, p);
      if (reviewsOnly) {
        if (view.reviews.ok) sendJson(res, 200, view.reviews.body);
        else
          sendJson(res, 503, {
            error: view.reviews.error,
            detail: view.reviews.detail,
            versions: view.lanes,
          });
        return true;
      }
      sendJson(res, 200, {
        id: p.id,
        title: p.title,
        descriptionHtml: p.descriptionHtml,
        details: view.details.ok
          ? view.details.body
          : { error: view.details.error, detail: view.details.detail },
        reviews: view.reviews.ok
          ? view.reviews.body.reviews
          : { error: view.reviews.error, detail: view.reviews.detail },
        served_by: ctx.servedBy,
        versions: view.lanes,
      });
      return true;
    }
    return false;
  },
};
