/**
 * Traffic shaped like a shop's rather than like a benchmark's: 1,000 signed-in callers (users 1 to 1,000; the
 * bench creates users 201 to 1,000 before the first run), each request one caller's token, the shop's own
 * client operations (`schema/operations/`), their variables drawn from a Zipf distribution (s = 1.1) over
 * products, users and each customer's orders, and about 5% writes (placeOrder, restock). Hardly two requests in flight are the
 * same request from the same caller, so inbound deduplication rarely applies; what can be shared is entities
 * (a popular product, a popular order), which is the entity cache's job.
 *
 * The sequence is seeded: every target is offered the same mix. Answers cannot be compared request by request
 * under load (writes interleave differently), so the load counts only errors other than the expected business
 * ones, and the check compares a fixed sample of reads with the reference between loads.
 */
import { print } from 'graphql';
import { signHs256 } from '../../lib/jwt';
import { schemaDir } from '../../lib/paths';
import { DEMO_PRODUCT_COUNT, demoOrders, demoSku } from '../../subgraphs/common/demo-data';
import { loadOperations } from '../../tools/schema/operations';
import { compact, graphqlRequest, type BenchRequest, type Workload, type WorkloadContext } from './workload';
import { seededRandom, weightedPicker, zipfSampler } from './zipf';
import path from 'node:path';

export const REALISTIC_CALLER_COUNT = 1_000;
/** Every 25th caller holds an admin token (40 of 1,000): the back-office operations go with theirs. */
export const ADMIN_EVERY = 25;
export const ZIPF_EXPONENT = 1.1;
const SEED = 20_261_129;
const TOKEN_LIFETIME_SECONDS = 24 * 3600;
/** What a placed order buys and a restock adds: small, so stock moves but a popular product rarely sells out. */
const RESTOCK_QUANTITY = 50;
/**
 * Errors a shop's traffic produces by design and clients handle: a popular product sold out, the order it
 * would have made refused. Anything else in a response is counted as an error.
 */
export const REALISTIC_BUSINESS_ERROR_CODES = ['OUT_OF_STOCK'] as const;

/** Who sends an operation: any of the 1,000 callers, one of the 40 admins, or a customer with demo orders. */
type CallerRole = 'anyone' | 'admin' | 'customer';

interface MixEntry {
  operation: string;
  /** Percent of all requests. */
  weight: number;
  caller: CallerRole;
  /** Variables from the Zipf draws, for the caller (user id) already chosen. */
  variables(draw: Draws, userId: number): Record<string, unknown> | undefined;
}

interface Draws {
  sku(): string;
  userId(): string;
  /** One of the caller's own orders, the newest the likeliest. */
  orderOf(userId: number): string;
}

/** The mix: 95% reads across the storefront, account, order and back-office screens; 5% writes. */
export const REALISTIC_MIX: readonly MixEntry[] = [
  { operation: 'ProductPage', weight: 25, caller: 'anyone', variables: (draw) => ({ sku: draw.sku() }) },
  { operation: 'CartShippingEstimate', weight: 12, caller: 'anyone', variables: (draw) => ({ sku: draw.sku() }) },
  { operation: 'StorefrontProducts', weight: 15, caller: 'anyone', variables: () => undefined },
  { operation: 'MyAccount', weight: 12, caller: 'anyone', variables: () => undefined },
  { operation: 'MyOrderHistory', weight: 8, caller: 'anyone', variables: () => ({ first: 10 }) },
  { operation: 'OrderDetail', weight: 15, caller: 'customer', variables: (draw, userId) => ({ id: draw.orderOf(userId) }) },
  { operation: 'AdminUser', weight: 4, caller: 'admin', variables: (draw) => ({ id: draw.userId() }) },
  { operation: 'AdminStockLevels', weight: 2, caller: 'admin', variables: () => ({ first: 50 }) },
  { operation: 'AdminUsersWithOrders', weight: 2, caller: 'admin', variables: () => ({ first: 20 }) },
  {
    operation: 'PlaceOrder',
    weight: 4,
    caller: 'anyone',
    variables: (draw) => ({ input: { items: [{ sku: draw.sku(), quantity: 1 }] } }),
  },
  {
    operation: 'RestockProduct',
    weight: 1,
    caller: 'admin',
    variables: (draw) => ({ sku: draw.sku(), quantity: RESTOCK_QUANTITY }),
  },
];

export interface RealisticRequest extends BenchRequest {
  operation: string;
}

/** The shop's client operations by name, each with exactly the fragments it spreads, printed compactly. */
export function clientOperations(): Map<string, { kind: BenchRequest['kind']; query: string }> {
  const set = loadOperations(path.join(schemaDir, 'operations'), true, 'bench operations');
  if (!set.ok) throw new Error(set.error);
  if (set.value.problems.length > 0) throw new Error(`schema/operations: ${set.value.problems[0]!.message}`);
  return new Map(
    set.value.operations.map((operation) => [
      operation.name,
      { kind: operation.kind === 'mutation' ? 'mutation' : 'query', query: compact(print(operation.document)) },
    ]),
  );
}

export function isAdminCaller(userId: number): boolean {
  return userId % ADMIN_EVERY === 0;
}

/** One token per caller, user ids 1..1,000; every 25th with the admin scope. */
export function callerTokens(jwtSecret: string, now = Date.now()): string[] {
  const exp = Math.floor(now / 1000) + TOKEN_LIFETIME_SECONDS;
  return Array.from({ length: REALISTIC_CALLER_COUNT }, (_, index) => {
    const userId = index + 1;
    return signHs256({ sub: String(userId), exp, ...(isAdminCaller(userId) ? { scope: 'admin' } : {}) }, jwtSecret);
  });
}

/** Each demo customer's orders, newest first (order ids grow with time). */
function ordersByCustomer(): Map<number, number[]> {
  const orders = new Map<number, number[]>();
  for (const order of demoOrders()) {
    const own = orders.get(Number(order.userId)) ?? [];
    own.unshift(order.id);
    orders.set(Number(order.userId), own);
  }
  return orders;
}

/**
 * An endless, seeded sequence of requests of the mix. Popularity ranks map onto ids in order (rank 1 is
 * SKU-0001, user 1); a customer's orders are ranked newest first, since nobody's old orders are popular with
 * anyone else. Which demo user owns which order is known from the demo data every run seeds.
 */
export function realisticTraffic(context: WorkloadContext, seed = SEED): () => RealisticRequest {
  const operations = clientOperations();
  const tokens = callerTokens(context.jwtSecret);
  const customerOrders = ordersByCustomer();
  const customers = [...customerOrders.keys()].sort((a, b) => a - b);
  const random = seededRandom(seed);
  const orderRanks = new Map<number, () => number>();
  const draws: Draws = {
    sku: ((rank) => () => demoSku(rank() - 1))(zipfSampler(DEMO_PRODUCT_COUNT, ZIPF_EXPONENT, random)),
    userId: ((rank) => () => String(rank()))(zipfSampler(REALISTIC_CALLER_COUNT, ZIPF_EXPONENT, random)),
    orderOf: (userId) => {
      const own = customerOrders.get(userId)!;
      let rank = orderRanks.get(own.length);
      if (!rank) orderRanks.set(own.length, (rank = zipfSampler(own.length, ZIPF_EXPONENT, random)));
      return String(own[rank() - 1]!);
    },
  };
  const adminIds = Array.from({ length: REALISTIC_CALLER_COUNT / ADMIN_EVERY }, (_, index) => (index + 1) * ADMIN_EVERY);
  const pick = weightedPicker(
    REALISTIC_MIX.map((entry) => ({ weight: entry.weight, value: entry })),
    random,
  );
  for (const entry of REALISTIC_MIX) {
    if (!operations.has(entry.operation)) throw new Error(`schema/operations has no operation ${entry.operation}`);
  }
  return () => {
    const entry = pick();
    let userId: number;
    switch (entry.caller) {
      case 'anyone':
        userId = 1 + Math.floor(random() * REALISTIC_CALLER_COUNT);
        break;
      case 'admin':
        userId = adminIds[Math.floor(random() * adminIds.length)]!;
        break;
      case 'customer':
        userId = customers[Math.floor(random() * customers.length)]!;
        break;
    }
    const variables = entry.variables(draws, userId);
    const { kind, query } = operations.get(entry.operation)!;
    return {
      ...graphqlRequest(kind, query, variables),
      headers: { authorization: `Bearer ${tokens[userId - 1]!}` },
      operation: entry.operation,
    };
  };
}

/**
 * The reads compared with the reference before and after each load: one of each read operation, for fixed
 * callers (a regular user, an order's owner, an admin) and popular and unpopular variables alike.
 */
function checkSample(context: WorkloadContext): BenchRequest[] {
  const operations = clientOperations();
  const tokens = callerTokens(context.jwtSecret);
  const owner = Number(demoOrders()[0]!.userId);
  const as = (userId: number, operation: string, variables?: Record<string, unknown>): BenchRequest => ({
    ...graphqlRequest('query', operations.get(operation)!.query, variables),
    headers: { authorization: `Bearer ${tokens[userId - 1]!}` },
  });
  return [
    as(7, 'ProductPage', { sku: demoSku(0) }),
    as(7, 'ProductPage', { sku: demoSku(88) }),
    as(512, 'CartShippingEstimate', { sku: demoSku(1) }),
    as(3, 'StorefrontProducts'),
    as(3, 'MyAccount'),
    as(999, 'MyAccount'),
    as(3, 'MyOrderHistory', { first: 10 }),
    as(owner, 'OrderDetail', { id: '1' }),
    as(ADMIN_EVERY, 'OrderDetail', { id: '1500' }),
    as(ADMIN_EVERY, 'AdminUser', { id: '2' }),
    as(2 * ADMIN_EVERY, 'AdminStockLevels', { first: 50 }),
    as(2 * ADMIN_EVERY, 'AdminUsersWithOrders', { first: 20 }),
  ];
}

export function realisticWorkload(context: WorkloadContext): Workload {
  return {
    name: 'realistic',
    description:
      `1,000 signed-in callers (every ${ADMIN_EVERY}th an admin), the shop's client operations with Zipf (s = ${ZIPF_EXPONENT}) ` +
      'variables over products, users and orders, 5% writes (placeOrder, restock); checked: no errors but OUT_OF_STOCK ' +
      'under load, and a fixed sample of 12 reads equal to the reference between loads',
    requests: checkSample(context),
    traffic: () => realisticTraffic(context),
    expectedErrorCodes: REALISTIC_BUSINESS_ERROR_CODES,
    stateful: true,
  };
}
