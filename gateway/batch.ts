import type { GraphQLHttpResult } from '../lib/http';
import { rejectionResult } from './edge/request';

/**
 * What the edge made of one operation: refused (its answer is the refusal), or admitted with a way to run it.
 * Headers are those the edge wants on the response either way (the RateLimit headers).
 */
export type Admission =
  | { kind: 'rejected'; result: GraphQLHttpResult }
  | { kind: 'admitted'; headers: Record<string, string>; run(): Promise<GraphQLHttpResult> };

export interface BatchOptions {
  /** Operations one batch may carry (BATCH_MAX_OPERATIONS); 0 refuses batches. */
  maxOperations: number;
}

/**
 * A batched request (Apollo Client's BatchHttpLink: a JSON array of operations in one POST), answered as Apollo
 * Router answers client batches: every operation is taken on its own, the answer is an array in the same order,
 * each entry exactly the body that operation would have had alone, with its own `errors`.
 *
 * Every operation passes every edge stage on its own (trusted documents, document limits, cost, rate limits),
 * admitted in batch order before any of them runs, so each spends its own rate-limit budget and a batch that
 * runs out of budget half way refuses its tail, not its head. A refusal is that entry's answer (its `errors`
 * with the code the request would have had alone); the others still run, concurrently. The HTTP status of the batch is 200 unless the batch itself is refused (empty, or over
 * BATCH_MAX_OPERATIONS: 400 before anything is checked or counted); the response carries the RateLimit
 * headers as they stand after the last operation, and `Retry-After` when any entry was rate limited.
 */
export async function answerBatch(
  operations: readonly unknown[],
  options: BatchOptions,
  admit: (operation: unknown) => Promise<Admission>,
): Promise<GraphQLHttpResult> {
  if (options.maxOperations === 0 || operations.length > options.maxOperations) {
    return rejectionResult({
      status: 400,
      code: 'BATCH_LIMIT_EXCEEDED',
      message:
        options.maxOperations === 0
          ? 'Batched requests are turned off (BATCH_MAX_OPERATIONS=0); send one operation per request'
          : `A batch may carry at most ${options.maxOperations} operations (BATCH_MAX_OPERATIONS); this one has ${operations.length}`,
      extensions: { maxOperations: options.maxOperations, operations: operations.length },
    });
  }
  if (operations.length === 0)
    return rejectionResult({ status: 400, code: 'BAD_REQUEST', message: 'The batch is empty; send at least one operation' });

  const admissions: Admission[] = [];
  for (const operation of operations) admissions.push(await admit(operation));
  const results = await Promise.all(
    admissions.map((admission) => (admission.kind === 'rejected' ? admission.result : admission.run())),
  );

  // Header names as the edge and Apollo spell them differ in case; HTTP does not care, a merge does.
  const headers: Record<string, string> = {};
  let retryAfter: number | undefined;
  for (const admission of admissions) {
    const own = admission.kind === 'rejected' ? admission.result.headers : admission.headers;
    for (const [name, value] of Object.entries(own)) {
      const lower = name.toLowerCase();
      if (lower === 'retry-after') retryAfter = Math.max(retryAfter ?? 0, Number(value));
      else if (lower !== 'content-type' && lower !== 'content-length') headers[lower] = value;
    }
  }
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  return {
    status: 200,
    headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
    body: `[${results.map((result) => result.body).join(',')}]`,
  };
}
