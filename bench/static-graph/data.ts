/**
 * The four-subgraph workload's data: fixed, in memory, made by arithmetic so every run (and every test) sees the
 * same graph. Ten users each review four products and each of ten products is reviewed by four users, so a query
 * that walks user → reviews → product → reviews → author → reviews → product reaches every product dozens of times
 * over: a gateway that deduplicates entities fetches ten, one that does not fetches hundreds.
 */

export const USER_COUNT = 10;
export const PRODUCT_COUNT = 10;
export const REVIEWS_PER_USER = 4;

export interface StaticUser {
  id: string;
  name: string;
  username: string;
  birthYear: number;
}

export interface StaticProduct {
  upc: string;
  name: string;
  priceCents: number;
  weightGrams: number;
}

export interface StaticReview {
  id: string;
  body: string;
  rating: number;
  authorId: string;
  productUpc: string;
}

const GIVEN_NAMES = ['Ines', 'Tomas', 'Maya', 'Oskar', 'Lena', 'Ravi', 'Nora', 'Pablo', 'Yuki', 'Anwar'];
const THINGS = ['Kettle', 'Lantern', 'Backpack', 'Teapot', 'Compass', 'Notebook', 'Blanket', 'Thermos', 'Chair', 'Radio'];

export const users: readonly StaticUser[] = Array.from({ length: USER_COUNT }, (_, index) => ({
  id: String(index + 1),
  name: `${GIVEN_NAMES[index]!} ${String.fromCharCode(65 + index)}.`,
  username: `${GIVEN_NAMES[index]!.toLowerCase()}${index + 1}`,
  birthYear: 1960 + ((index * 7) % 40),
}));

export const products: readonly StaticProduct[] = Array.from({ length: PRODUCT_COUNT }, (_, index) => ({
  upc: `UPC-${String(index + 1).padStart(3, '0')}`,
  name: `Field ${THINGS[index]!}`,
  priceCents: 1_500 + index * 725,
  weightGrams: 200 + ((index * 340) % 2_900),
}));

/** User u reviews products u, u+3, u+6 and u+9 (mod 10): four distinct products each, four reviewers per product. */
export const reviews: readonly StaticReview[] = users.flatMap((user, userIndex) =>
  Array.from({ length: REVIEWS_PER_USER }, (_, k) => {
    const product = products[(userIndex + 3 * k) % PRODUCT_COUNT]!;
    const id = String(userIndex * REVIEWS_PER_USER + k + 1);
    return {
      id,
      body: ['Sturdy.', 'Light.', 'Worth it.', 'Pricey.'][k]!,
      rating: 1 + ((userIndex + k) % 5),
      authorId: user.id,
      productUpc: product.upc,
    };
  }),
);

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}

export const userById = new Map(users.map((user) => [user.id, user]));
export const productByUpc = new Map(products.map((product) => [product.upc, product]));
export const reviewById = new Map(reviews.map((review) => [review.id, review]));
export const reviewsByAuthor = groupBy(reviews, (review) => review.authorId);
export const reviewsByProduct = groupBy(reviews, (review) => review.productUpc);

/** Inventory's own facts: whether a product is in stock (every third is not). */
export const inStockByUpc = new Map(products.map((product, index) => [product.upc, index % 3 !== 2]));

/** The shipping estimate inventory derives from the product's price and weight (free above 50 EUR). */
export function shippingEstimateCents(priceCents: number, weightGrams: number): number {
  return priceCents >= 5_000 ? 0 : Math.round(weightGrams / 2);
}
