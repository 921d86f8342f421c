import fs from 'node:fs';
import path from 'node:path';
import { Supergraph } from '@apollo/federation-internals';
import { parse, validate } from 'graphql';
import { createJwtVerifier, callerFromClaims } from '../../lib/jwt';
import { demoOrders } from '../../subgraphs/common/demo-data';
import {
  ADMIN_EVERY,
  REALISTIC_CALLER_COUNT,
  REALISTIC_MIX,
  callerTokens,
  isAdminCaller,
  realisticTraffic,
  realisticWorkload,
  type RealisticRequest,
} from '../../bench/workloads/realistic';
import { seededRandom, weightedPicker, zipfProbability, zipfSampler } from '../../bench/workloads/zipf';

const JWT_SECRET = 'test-jwt-secret-0123456789abcdef';
const context = { orderSku: 'SKU-0100', jwtSecret: JWT_SECRET };

function frequencies(draw: () => number, draws: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < draws; i++) {
    const value = draw();
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

describe('the Zipf sampler', () => {
  it('draws ranks with frequencies close to 1 / rank^1.1', () => {
    const draws = 200_000;
    const counts = frequencies(zipfSampler(100, 1.1, seededRandom(1)), draws);
    for (const rank of [1, 2, 5, 10, 50]) {
      const expected = zipfProbability(rank, 100, 1.1);
      expect(Math.abs((counts.get(rank) ?? 0) / draws - expected)).toBeLessThan(0.1 * expected + 0.001);
    }
    // Skewed: the first rank takes about a quarter, the last fifty a tenth together.
    expect(zipfProbability(1, 100, 1.1)).toBeCloseTo(0.23, 1);
    const tail = Array.from({ length: 50 }, (_, i) => zipfProbability(51 + i, 100, 1.1)).reduce((a, b) => a + b, 0);
    expect(tail).toBeGreaterThan(0.08);
    expect(tail).toBeLessThan(0.12);
  });

  it('stays within 1..n and reaches both ends', () => {
    const counts = frequencies(zipfSampler(10, 1.1, seededRandom(2)), 50_000);
    expect(Math.min(...counts.keys())).toBe(1);
    expect(Math.max(...counts.keys())).toBe(10);
  });

  it('gives the same sequence for the same seed', () => {
    const a = zipfSampler(1000, 1.1, seededRandom(42));
    const b = zipfSampler(1000, 1.1, seededRandom(42));
    expect(Array.from({ length: 100 }, a)).toEqual(Array.from({ length: 100 }, b));
  });

  it('refuses a non-positive size or exponent', () => {
    expect(() => zipfSampler(0, 1.1, Math.random)).toThrow('n must be a positive integer');
    expect(() => zipfSampler(10, 0, Math.random)).toThrow('s must be positive');
  });

  it('picks weighted choices in proportion', () => {
    const pick = weightedPicker([{ weight: 95, value: 'read' }, { weight: 5, value: 'write' }], seededRandom(3));
    const writes = Array.from({ length: 20_000 }, pick).filter((value) => value === 'write').length;
    expect(writes / 20_000).toBeGreaterThan(0.045);
    expect(writes / 20_000).toBeLessThan(0.055);
  });
});

describe('the realistic workload', () => {
  const sample: RealisticRequest[] = [];
  beforeAll(() => {
    const next = realisticTraffic(context);
    for (let i = 0; i < 20_000; i++) sample.push(next());
  });
  const callerOf = (request: RealisticRequest) => request.headers!.authorization!;

  it('signs 1,000 distinct callers, users 1 to 1,000, every 25th an admin', async () => {
    const tokens = callerTokens(JWT_SECRET);
    expect(new Set(tokens).size).toBe(REALISTIC_CALLER_COUNT);
    const verifier = createJwtVerifier({ secret: JWT_SECRET });
    for (const userId of [1, ADMIN_EVERY, 999, 1000]) {
      const caller = callerFromClaims(await verifier.verify(tokens[userId - 1]!));
      expect(caller).toEqual({ kind: 'user', userId: String(userId), admin: isAdminCaller(userId) });
    }
  });

  it('sends about 5% writes and the rest across every read of the mix', () => {
    const writes = sample.filter((request) => request.kind === 'mutation').length;
    expect(writes / sample.length).toBeGreaterThan(0.04);
    expect(writes / sample.length).toBeLessThan(0.06);
    expect(new Set(sample.map((request) => request.operation))).toEqual(new Set(REALISTIC_MIX.map((entry) => entry.operation)));
  });

  it('spreads requests over most callers, so identical requests from one caller are rare', () => {
    expect(new Set(sample.map(callerOf)).size).toBeGreaterThan(900);
    // What inbound deduplication could share: the same caller sending the same request within 50 requests
    // (the connections' worth in flight at once).
    let repeats = 0;
    for (let i = 50; i < sample.length; i++) {
      const key = `${callerOf(sample[i]!)} ${sample[i]!.body}`;
      if (sample.slice(i - 50, i).some((earlier) => `${callerOf(earlier)} ${earlier.body}` === key)) repeats++;
    }
    expect(repeats / sample.length).toBeLessThan(0.01);
  });

  it('draws products by popularity: the top product far more often than a tail one', () => {
    const skus = sample.filter((request) => request.operation === 'ProductPage').map((request) => JSON.parse(request.body).variables.sku as string);
    const count = (sku: string) => skus.filter((value) => value === sku).length;
    expect(count('SKU-0001')).toBeGreaterThan(10 * count('SKU-0090'));
  });

  it('has orders read by their owners, and back-office operations by admins only', () => {
    const owners = new Map(demoOrders().map((order) => [order.id, order.userId]));
    const verifierFree = (request: RealisticRequest) =>
      Number(JSON.parse(Buffer.from(callerOf(request).slice(7).split('.')[1]!, 'base64url').toString('utf8')).sub);
    for (const request of sample) {
      const userId = verifierFree(request);
      if (request.operation === 'OrderDetail') {
        const id = Number(JSON.parse(request.body).variables.id);
        expect(String(userId)).toBe(owners.get(id));
      }
      if (request.operation.startsWith('Admin') || request.operation === 'RestockProduct') expect(isAdminCaller(userId)).toBe(true);
    }
  });

  it('sends only operations valid against the supergraph', () => {
    const supergraph = Supergraph.build(fs.readFileSync(path.join(__dirname, '..', '..', 'schema', 'supergraph.graphql'), 'utf8'));
    const schema = supergraph.apiSchema().toGraphQLJSSchema();
    const queries = new Set(sample.map((request) => (JSON.parse(request.body) as { query: string }).query));
    for (const query of queries) expect(validate(schema, parse(query))).toEqual([]);
  });

  it('checks a fixed sample of reads, each with its own caller, and counts only OUT_OF_STOCK as expected', () => {
    const workload = realisticWorkload(context);
    expect(workload.stateful).toBe(true);
    expect(workload.direct).toBeUndefined();
    expect(workload.expectedErrorCodes).toEqual(['OUT_OF_STOCK']);
    expect(workload.requests.every((request) => request.kind === 'query' && request.headers?.authorization)).toBe(true);
    const first = workload.traffic!();
    const again = workload.traffic!();
    expect(Array.from({ length: 20 }, first)).toEqual(Array.from({ length: 20 }, again));
  });
});
