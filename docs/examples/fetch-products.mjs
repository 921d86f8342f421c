/* global fetch */
// A GraphQL request with nothing but `fetch` (Node 20 or any browser):
//   GRAPHQL_URL=http://localhost:4000/graphql node docs/examples/fetch-products.mjs
// Prints the first products as JSON; exits 1 when the answer carries errors.
const url = process.env.GRAPHQL_URL ?? 'http://localhost:4000/graphql';

const query = /* GraphQL */ `
  query FirstProducts($first: Int!) {
    products(first: $first) {
      edges { node { sku name priceCents inStock } }
    }
  }
`;

const response = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    // Signed-in calls add: authorization: `Bearer ${token}`
  },
  body: JSON.stringify({ query, variables: { first: 3 }, operationName: 'FirstProducts' }),
});
const result = await response.json();
// A 4xx carries `errors` with `extensions.code` (see the README's error codes); a 200 may carry field errors
// beside partial `data`.
if (result.errors) {
  console.error(`HTTP ${response.status}:`, JSON.stringify(result.errors));
  process.exit(1);
}
console.log(JSON.stringify(result.data));
