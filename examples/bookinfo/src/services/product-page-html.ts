/**
 * The product page a person reads: the book, its details, the reviews with their stars (none,
 * black or red), and a table of which version served each hop, coloured by lane. productpage v2
 * (the gray lane) looks different on purpose, so a glance tells which lane the page came from.
 * Every row of the hop table carries `data-hop`, `data-version` and `data-lane` for scripts.
 */
import { LANE_LABEL, laneColour, laneOf, type ServiceName } from "../topology.js";
import type { Rating, Review } from "./api-types.js";
import { escapeHtml as esc } from "./http-kit.js";
import type { ProductView } from "./product-view.js";

const ERROR_COLOUR = "#c62828";
const NOT_CALLED_COLOUR = "#bdbdbd";

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212121;background:#fafafa}
header{display:flex;justify-content:space-between;align-items:center;padding:.75rem 1.5rem;background:#263238;color:#fff}
header a{color:#fff}
header form{display:inline;margin:0}
body.v2 header{background:linear-gradient(90deg,#37474f,#546e7a)}
.banner{padding:.5rem 1.5rem;background:#eceff1;border-bottom:3px solid #546e7a;font-weight:600}
main{max-width:60rem;margin:0 auto;padding:1rem 1.5rem}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:.5rem 1rem 1rem;margin:1rem 0}
body.v2 section{border-left:6px solid #546e7a}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dt{font-weight:600}
blockquote{margin:.75rem 0;padding:.5rem 1rem;border-left:4px solid #cfd8dc}
.stars{font-size:1.3rem;letter-spacing:.1rem}
.error{color:${ERROR_COLOUR}}
table{border-collapse:collapse}
td,th{padding:.35rem .8rem;text-align:left;border-bottom:1px solid #eee}
.lane{display:inline-block;min-width:4rem;padding:.1rem .5rem;border-radius:1rem;color:#fff;text-align:center;font-size:.85rem}
footer{color:#757575;font-size:.85rem;margin:1rem 0}
code{background:#eceff1;padding:0 .25rem;border-radius:3px}
`;

function stars(r: Rating): string {
  if ("error" in r) return `<p class="error rating-error">${esc(r.error)}</p>`;
  const n = Math.max(0, Math.min(5, Math.round(r.stars)));
  const colour = r.color === "red" ? "red" : "black";
  return `<p class="stars" data-stars="${n}" data-color="${colour}" style="color:${colour}" title="${n} of 5 stars">${"★".repeat(n)}${"☆".repeat(5 - n)}</p>`;
}

function review(r: Review): string {
  return `<blockquote><p>${esc(r.text)}</p><small>— ${esc(r.reviewer)}</small>${r.rating ? stars(r.rating) : ""}</blockquote>`;
}

function detailsSection(v: ProductView): string {
  if (!v.details.ok) {
    return `<section id="details"><h2>Book Details</h2><p class="error">Sorry, product details are currently unavailable for this book.</p><p class="error"><small>${esc(v.details.detail)}</small></p></section>`;
  }
  const d = v.details.body;
  const rows: [string, string | number][] = [
    ["Type", d.type],
    ["Pages", d.pages],
    ["Publisher", d.publisher],
    ["Language", d.language],
    ["ISBN-10", d["ISBN-10"]],
    ["ISBN-13", d["ISBN-13"]],
  ];
  return `<section id="details"><h2>Book Details</h2><dl>${rows.map(([k, x]) => `<dt>${esc(k)}</dt><dd>${esc(String(x))}</dd>`).join("")}</dl></section>`;
}

function reviewsSection(v: ProductView): string {
  if (!v.reviews.ok) {
    return `<section id="reviews"><h2>Book Reviews</h2><p class="error">Sorry, product reviews are currently unavailable for this book.</p><p class="error"><small>${esc(v.reviews.detail)}</small></p></section>`;
  }
  return `<section id="reviews"><h2>Book Reviews</h2>${v.reviews.body.reviews.map(review).join("")}</section>`;
}

/** `requested`: the lane label the request arrived with, to point out hops served by another lane (fallback). */
function hopRow(
  service: ServiceName,
  version: string | null,
  note: string,
  requested: string | undefined,
): string {
  let lane: string;
  let colour: string;
  if (version === null) {
    lane = "—";
    colour = NOT_CALLED_COLOUR;
  } else if (version.startsWith("error:")) {
    lane = "error";
    colour = ERROR_COLOUR;
  } else {
    lane = laneOf(service, version) ?? "?";
    colour = laneColour(lane) ?? NOT_CALLED_COLOUR;
    if (requested && lane !== requested) note += ` · fallback: no available ${service} in lane ${requested}`;
  }
  const shown = version ?? "not called";
  return (
    `<tr data-hop="${service}" data-version="${esc(version ?? "")}" data-lane="${esc(lane)}">` +
    `<td>${service}</td><td><code>${esc(shown)}</code></td><td><span class="lane" style="background:${colour}">${esc(lane)}</span></td><td>${esc(note)}</td></tr>`
  );
}

function hopsSection(v: ProductView): string {
  const l = v.lanes;
  const ratingsNote = l.ratings === null ? "not reached" : "called by reviews";
  return (
    `<section id="hops"><h2>Which version served each hop</h2><table><thead><tr><th>hop</th><th>version</th><th>lane</th><th></th></tr></thead><tbody>` +
    hopRow("productpage", l.productpage, "this page", v.laneLabel) +
    hopRow("details", l.details, "called by productpage", v.laneLabel) +
    hopRow("reviews", l.reviews, "called by productpage", v.laneLabel) +
    hopRow("ratings", l.ratings, ratingsNote, v.laneLabel) +
    `</tbody></table><p><small>The same as JSON: <a href="/api/v1/lanes">/api/v1/lanes</a>.</small></p></section>`
  );
}

function userBox(user: string | undefined): string {
  if (user) return `<span>Signed in as <b>${esc(user)}</b> · <a href="/logout">sign out</a></span>`;
  return `<form method="post" action="/login"><input name="username" placeholder="user name" size="10" aria-label="user name"> <button type="submit">Sign in</button></form>`;
}

/** The whole page; `version` is productpage's own version. */
export function renderProductPage(v: ProductView, version: string): string {
  const banner =
    version === "v2"
      ? `<div class="banner" id="banner">productpage v2 · gray lane — the new product page is being gray-released</div>`
      : "";
  const lane = v.laneLabel ? `<code>${LANE_LABEL}: ${esc(v.laneLabel)}</code>` : "none (the sidecar decides)";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simple Bookstore App — productpage ${esc(version)}</title><style>${STYLE}</style></head>
<body class="${esc(version)}" data-productpage-version="${esc(version)}">
<header><span><b>BookInfo Sample</b> · productpage ${esc(version)}</span>${userBox(v.user)}</header>
${banner}
<main>
<h1>${esc(v.product.title)}</h1>
<p>${v.product.descriptionHtml}</p>
${detailsSection(v)}
${reviewsSection(v)}
${hopsSection(v)}
<footer>Request id: <code>${esc(v.requestId ?? "none")}</code> · lane label this request arrived with: ${lane}</footer>
</main></body></html>
`;
}

/** A small index at `/`, like Bookinfo's. */
export function renderIndex(version: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Simple Bookstore App</title><style>${STYLE}</style></head>
<body class="${esc(version)}"><header><b>BookInfo Sample</b></header><main><section><h2>Hello! This is a simple bookstore application.</h2>
<p><a href="/productpage?u=normal">Normal user</a> · <a href="/productpage?u=test">Test user</a></p>
<p>APIs: <code>/api/v1/products</code>, <code>/api/v1/products/0</code>, <code>/api/v1/products/0/reviews</code>, <code>/api/v1/lanes</code></p></section></main></body></html>
`;
}
