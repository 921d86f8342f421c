import crypto from 'node:crypto';
import { Kind, type OperationDefinitionNode } from 'graphql';
import type { ErrorCode } from '../../lib/errors';
import { reject, type EdgeRequest, type StageResult } from './request';

/**
 * Client mistakes that Apollo Server would answer with a 500 (several operations and no `operationName`, an
 * unknown `operationName`, a subscription over plain HTTP, a malformed automatic persisted query) become
 * 400s with a precise code here, and the operation to run is resolved once for the stages after this one.
 */
export const OPERATION_RESOLUTION_FAILURE = 'OPERATION_RESOLUTION_FAILURE' satisfies ErrorCode;
export const SUBSCRIPTION_OVER_HTTP = 'SUBSCRIPTION_OVER_HTTP' satisfies ErrorCode;
export const PERSISTED_QUERY_INVALID = 'PERSISTED_QUERY_INVALID' satisfies ErrorCode;
export const PERSISTED_QUERY_HASH_MISMATCH = 'PERSISTED_QUERY_HASH_MISMATCH' satisfies ErrorCode;

const SHA256_HEX = /^[0-9a-f]{64}$/i;

export function checkPersistedQuery(request: EdgeRequest): StageResult {
  const persisted = request.params?.extensions?.persistedQuery;
  if (persisted === undefined) return undefined;
  const record = persisted as { version?: unknown; sha256Hash?: unknown } | null;
  if (record === null || typeof record !== 'object' || record.version !== 1 || typeof record.sha256Hash !== 'string')
    return reject(
      400,
      PERSISTED_QUERY_INVALID,
      'extensions.persistedQuery must be { "version": 1, "sha256Hash": "<64 hex digits>" }',
    );
  if (!SHA256_HEX.test(record.sha256Hash))
    return reject(400, PERSISTED_QUERY_INVALID, 'extensions.persistedQuery.sha256Hash must be 64 hex digits');
  const query = request.params?.query;
  if (query !== undefined) {
    const actual = crypto.createHash('sha256').update(query).digest('hex');
    if (actual !== record.sha256Hash.toLowerCase())
      return reject(
        400,
        PERSISTED_QUERY_HASH_MISMATCH,
        'The query does not hash to extensions.persistedQuery.sha256Hash',
        {
          expected: actual,
        },
      );
  }
  return undefined;
}

export function resolveOperation(request: EdgeRequest): StageResult {
  const document = request.document;
  if (!document) return undefined;
  const operations = document.definitions.filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
  if (operations.length === 0) return undefined; // validation reports it
  const name = request.params?.operationName;
  let operation: OperationDefinitionNode | undefined;
  if (name !== undefined) {
    operation = operations.find((candidate) => candidate.name?.value === name);
    if (!operation)
      return reject(400, OPERATION_RESOLUTION_FAILURE, `Unknown operation named "${name}"`, {
        operationNames: operations.flatMap((candidate) => (candidate.name ? [candidate.name.value] : [])),
      });
  } else if (operations.length > 1) {
    return reject(
      400,
      OPERATION_RESOLUTION_FAILURE,
      'The document has several operations: name the one to run in "operationName"',
      { operationNames: operations.flatMap((candidate) => (candidate.name ? [candidate.name.value] : [])) },
    );
  } else {
    operation = operations[0]!;
  }
  if (operation.operation === 'subscription' && !request.streaming)
    return reject(
      400,
      SUBSCRIPTION_OVER_HTTP,
      'A subscription cannot run over a plain HTTP request; use a streaming transport',
    );
  request.operation = operation;
  return undefined;
}
