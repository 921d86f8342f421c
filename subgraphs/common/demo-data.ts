/**
 * Deterministic demo data. Each service seeds only its own tables, but all draw from this one generator, so
 * the orders' prices, the users they belong to and inventory's reservations for them agree across services.
 */
export const DEMO_USER_COUNT = 200;
export const DEMO_PRODUCT_COUNT = 100;
export const DEMO_ORDER_COUNT = 2000;

const EPOCH = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;

/** mulberry32: small, fast and the same on every machine (the demo data, and the bench's seeded traffic). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Linus', 'Margaret', 'Dennis', 'Hedy', 'John', 'Katherine', 'Tim', 'Shafi', 'Leslie', 'Sophie', 'Guido'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Torvalds', 'Hamilton', 'Ritchie', 'Lamarr', 'McCarthy', 'Johnson', 'Berners-Lee', 'Goldwasser', 'Lamport', 'Wilson', 'van Rossum'];
const ADJECTIVES = ['Compact', 'Rugged', 'Quiet', 'Bright', 'Classic', 'Modular', 'Smart', 'Heavy-duty', 'Portable', 'Wireless'];
const NOUNS = ['Kettle', 'Lamp', 'Backpack', 'Keyboard', 'Headphones', 'Tent', 'Blender', 'Drill', 'Monitor', 'Bicycle Pump'];

export interface DemoUser {
  id: number;
  name: string;
  email: string;
  createdAt: string;
}
export interface DemoProduct {
  sku: string;
  name: string;
  priceCents: number;
  weightGrams: number;
  stock: number;
  createdAt: string;
}
export interface DemoOrder {
  id: number;
  userId: string;
  status: 'PLACED' | 'CANCELLED';
  createdAt: string;
  items: { sku: string; quantity: number; unitPriceCents: number }[];
}

export function demoUsers(): DemoUser[] {
  return Array.from({ length: DEMO_USER_COUNT }, (_, index) => {
    const first = FIRST[index % FIRST.length]!;
    const last = LAST[Math.floor(index / FIRST.length) % LAST.length]!;
    return {
      id: index + 1,
      name: `${first} ${last}`,
      email: `${first}.${last}.${index + 1}@example.com`.toLowerCase().replace(/ /g, ''),
      createdAt: new Date(EPOCH + index * HOUR).toISOString(),
    };
  });
}

export function demoSku(index: number): string {
  return `SKU-${String(index + 1).padStart(4, '0')}`;
}

export function demoProducts(): DemoProduct[] {
  const next = seededRandom(7);
  return Array.from({ length: DEMO_PRODUCT_COUNT }, (_, index) => ({
    sku: demoSku(index),
    name: `${ADJECTIVES[index % ADJECTIVES.length]} ${NOUNS[Math.floor(index / ADJECTIVES.length) % NOUNS.length]}`,
    priceCents: 199 + Math.floor(next() * 200) * 100,
    weightGrams: 50 + Math.floor(next() * 4950),
    stock: 20 + Math.floor(next() * 480),
    createdAt: new Date(EPOCH + index * HOUR).toISOString(),
  }));
}

export function demoOrders(): DemoOrder[] {
  const next = seededRandom(42);
  const prices = new Map(demoProducts().map((product) => [product.sku, product.priceCents]));
  return Array.from({ length: DEMO_ORDER_COUNT }, (_, index) => {
    const lines = 1 + Math.floor(next() * 4);
    const skus = new Set<string>();
    while (skus.size < lines) skus.add(demoSku(Math.floor(next() * DEMO_PRODUCT_COUNT)));
    return {
      id: index + 1,
      userId: String(1 + Math.floor(next() * DEMO_USER_COUNT)),
      status: next() < 0.1 ? 'CANCELLED' : 'PLACED',
      createdAt: new Date(EPOCH + DEMO_USER_COUNT * HOUR + index * 7 * 60_000).toISOString(),
      items: [...skus].map((sku) => ({ sku, quantity: 1 + Math.floor(next() * 3), unitPriceCents: prices.get(sku)! })),
    };
  });
}

/** The reservation that holds an order's stock in inventory. */
export function reservationIdForOrder(orderId: number | string): string {
  return `order:${orderId}`;
}
