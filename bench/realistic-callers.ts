/**
 * The realistic workload's callers are users 1 to 1,000; the demo data has 200. Before its first run the bench
 * creates the rest on the users subgraph itself (signed as the bench's admin), so that every caller is a user
 * of their own: no two callers share an identity, a cache entry or an order history.
 */
import { graphQLErrorsOf } from './compare';
import { REALISTIC_CALLER_COUNT } from './workloads/realistic';

const CONCURRENT_CREATES = 8;

type SignedHeaders = (body: string) => Record<string, string>;

async function ask(url: string, headers: SignedHeaders, query: string, variables?: Record<string, unknown>): Promise<unknown> {
  const body = JSON.stringify(variables ? { query, variables } : { query });
  const response = await fetch(url, { method: 'POST', headers: headers(body), body, signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const errors = graphQLErrorsOf(value);
  if (!response.ok || value === undefined || errors.length > 0) {
    throw new Error(`users subgraph answered HTTP ${response.status}: ${errors[0] ?? text.slice(0, 200)}`);
  }
  return value;
}

/** Creates users until there are REALISTIC_CALLER_COUNT; returns how many it created. */
export async function ensureRealisticCallers(usersUrl: string, headers: SignedHeaders): Promise<number> {
  const counted = (await ask(usersUrl, headers, '{ users(first: 1) { totalCount } }')) as { data: { users: { totalCount: number } } };
  const existing = counted.data.users.totalCount;
  const missing = Array.from({ length: Math.max(0, REALISTIC_CALLER_COUNT - existing) }, (_, index) => existing + index + 1);
  const mutation = 'mutation CreateBenchCaller($input: CreateUserInput!) { createUser(input: $input) { id } }';
  for (let start = 0; start < missing.length; start += CONCURRENT_CREATES) {
    await Promise.all(
      missing.slice(start, start + CONCURRENT_CREATES).map(async (n) => {
        const created = (await ask(usersUrl, headers, mutation, {
          input: { name: `Bench Caller ${n}`, email: `bench.caller.${n}@example.com` },
        })) as { data: { createUser: { id: string } } };
        if (Number(created.data.createUser.id) > REALISTIC_CALLER_COUNT) {
          throw new Error(`createUser gave id ${created.data.createUser.id}: the callers must be users 1 to ${REALISTIC_CALLER_COUNT}`);
        }
      }),
    );
  }
  return missing.length;
}
