/** The book Bookinfo sells (one, as in the Istio sample) and its reviews. */

export interface Product {
  id: number;
  title: string;
  descriptionHtml: string;
}

export const PRODUCTS: readonly Product[] = [
  {
    id: 0,
    title: "The Comedy of Errors",
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of ' +
      "<b>William Shakespeare's</b> early plays. It is his <i>shortest</i> and one of his <i>most farcical</i> comedies, " +
      "with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.",
  },
];

export const BOOK_DETAILS = {
  author: "William Shakespeare",
  year: 1595,
  type: "paperback",
  pages: 200,
  publisher: "PublisherA",
  language: "English",
  "ISBN-10": "1234567890",
  "ISBN-13": "123-1234567890",
};

export const REVIEWS = [
  {
    reviewer: "Reviewer1",
    text: "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
  },
  {
    reviewer: "Reviewer2",
    text: "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
  },
] as const;

/** Stars per reviewer by ratings version: v1 is production, v2 (gray) is visibly different. */
export const RATINGS_BY_VERSION: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  v1: { Reviewer1: 5, Reviewer2: 4 },
  v2: { Reviewer1: 1, Reviewer2: 2 },
};

export function findProduct(id: number): Product | undefined {
  return PRODUCTS.find((p) => p.id === id);
}
