import {
  GraphQLError,
  Kind,
  parse,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { DocumentLimits } from './config';
import type { ErrorCode } from './errors';

/** A refused document: a 400 with a code and what was found, for the HTTP layer to send. */
export interface DocumentRejection {
  status: 400;
  code: ErrorCode;
  message: string;
  extensions: { limit: keyof DocumentLimits; maximum: number; found: number | string };
}

/**
 * Document limits: what one GraphQL document may ask, checked before validation and planning, so that a
 * hostile document is turned away in about the time it takes to read it.
 *
 * Why each limit: GraphQL validation grows with the square of the fields in one selection set (overlapping
 * field checks), planning and execution with depth and aliases (10,000 aliases of one field are 10,000
 * subgraph calls' worth of work), and graphql-js's recursive parser overflows the stack on deep nesting. So:
 *
 * 1. the raw text's bracket nesting is measured first (one pass over the characters, strings and comments
 *    skipped) and anything nested deeper than the parser can safely go is refused before parsing;
 * 2. the parser stops at `maxTokens` (graphql-js's own option);
 * 3. one walk over the AST measures depth, aliases and root fields with fragments expanded (each fragment
 *    measured once and multiplied where it is spread, so a "fragment bomb" costs nothing to measure, and a
 *    fragment cycle, which validation will reject, ends the walk), and selections per set, directives per
 *    field and fragment definitions as written.
 *
 * Every operation in the document is measured, not only the one to run: validation reads them all.
 * The gateway checks every client document with the configured limits (`gateway/edge/document-limits.ts`);
 * each subgraph checks what it receives with its own, wider ones (it also receives the gateway's merged
 * batches), because other services can reach it too.
 */
/** The variable that sets each limit, named in rejections so an operator knows what to raise. */
const VARIABLES: Record<keyof DocumentLimits, string> = {
  maxDocumentBytes: 'LIMIT_DOCUMENT_BYTES',
  maxTokens: 'LIMIT_TOKENS',
  maxDepth: 'LIMIT_DEPTH',
  maxAliases: 'LIMIT_ALIASES',
  maxRootFields: 'LIMIT_ROOT_FIELDS',
  maxFieldsPerSelection: 'LIMIT_SELECTION_FIELDS',
  maxDirectives: 'LIMIT_DIRECTIVES',
  maxFragments: 'LIMIT_FRAGMENTS',
  maxOperations: 'LIMIT_OPERATIONS',
  maxFields: 'LIMIT_FIELDS',
  maxVariableValues: 'LIMIT_VARIABLE_VALUES',
};
const DESCRIPTIONS: Record<keyof DocumentLimits, string> = {
  maxDocumentBytes: 'length in characters',
  maxTokens: 'tokens',
  maxDepth: 'depth',
  maxAliases: 'aliases',
  maxRootFields: 'root fields',
  maxFieldsPerSelection: 'selections in one selection set',
  maxDirectives: 'directives on one selection',
  maxFragments: 'fragment definitions',
  maxOperations: 'operations',
  maxFields: 'fields (fragments expanded)',
  maxVariableValues: 'variable values',
};

/** Nesting beyond this is refused before parsing, whatever the configured depth: the parser recurses. */
const PARSER_NESTING_CAP = 1_000;

export const DOCUMENT_LIMIT_CODE = 'DOCUMENT_LIMIT_EXCEEDED' satisfies ErrorCode;

function exceeded(limit: keyof DocumentLimits, maximum: number, found: number | string): DocumentRejection {
  return {
    status: 400,
    code: DOCUMENT_LIMIT_CODE,
    message: `The ${limit === 'maxVariableValues' ? "request's" : "document's"} ${DESCRIPTIONS[limit]} (${found}) exceed the limit of ${maximum} (${VARIABLES[limit]})`,
    extensions: { limit, maximum, found },
  };
}

export type DocumentVerdict =
  | { kind: 'ok'; document: DocumentNode }
  | { kind: 'rejected'; rejection: DocumentRejection }
  // A syntax error: Apollo Server reports it (GRAPHQL_PARSE_FAILED) as it always has.
  | { kind: 'unparsable' };

/** Checks one document's text against the limits. */
export function checkDocument(query: string, limits: DocumentLimits): DocumentVerdict {
  // First, for nothing: every later step reads the whole text.
  if (query.length > limits.maxDocumentBytes)
    return { kind: 'rejected', rejection: exceeded('maxDocumentBytes', limits.maxDocumentBytes, query.length) };
  const nesting = bracketNesting(query, Math.min(PARSER_NESTING_CAP, limits.maxDepth * 2 + 16));
  if (nesting.over)
    return { kind: 'rejected', rejection: exceeded('maxDepth', limits.maxDepth, `more than ${limits.maxDepth}`) };
  let document: DocumentNode;
  try {
    document = parse(query, { noLocation: true, maxTokens: limits.maxTokens });
  } catch (error) {
    // graphql-js 16 says "more that N tokens" (sic); accept either spelling.
    if (error instanceof GraphQLError && /more th(?:an|at) \d+ tokens/.test(error.message))
      return {
        kind: 'rejected',
        rejection: exceeded('maxTokens', limits.maxTokens, `more than ${limits.maxTokens}`),
      };
    if (error instanceof RangeError)
      return { kind: 'rejected', rejection: exceeded('maxDepth', limits.maxDepth, 'too deep to parse') };
    return { kind: 'unparsable' };
  }
  const rejection = measure(document, limits);
  return rejection ? { kind: 'rejected', rejection } : { kind: 'ok', document };
}

/**
 * Counts the values in a request's variables (each scalar, list item and object field; the variables object
 * itself is not one) and refuses more than `maxVariableValues`, stopping as soon as the count is over. An
 * explicit stack, not recursion: JSON.parse accepts nesting far deeper than a recursive walk could follow.
 */
export function checkVariables(
  variables: unknown,
  limits: Pick<DocumentLimits, 'maxVariableValues'>,
): DocumentRejection | undefined {
  if (variables === null || typeof variables !== 'object') return undefined;
  const maximum = limits.maxVariableValues;
  let count = 0;
  const pending: unknown[] = [variables];
  while (pending.length > 0) {
    const value = pending.pop();
    const children = Array.isArray(value)
      ? value
      : value !== null && typeof value === 'object'
        ? Object.values(value as Record<string, unknown>)
        : undefined;
    if (!children) continue;
    count += children.length;
    if (count > maximum) return exceeded('maxVariableValues', maximum, `more than ${maximum}`);
    for (const child of children) if (child !== null && typeof child === 'object') pending.push(child);
  }
  return undefined;
}

/** The deepest nesting of `{`, `[` and `(` outside strings and comments; stops early once over `cap`. */
function bracketNesting(text: string, cap: number): { over: boolean } {
  let depth = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x7b || code === 0x5b || code === 0x28) {
      if (++depth > cap) return { over: true };
    } else if (code === 0x7d || code === 0x5d || code === 0x29) {
      depth--;
    } else if (code === 0x23) {
      // A comment runs to the end of the line.
      while (index < text.length && text.charCodeAt(index) !== 0x0a && text.charCodeAt(index) !== 0x0d) index++;
    } else if (code === 0x22) {
      if (text.startsWith('"""', index)) {
        const end = text.indexOf('"""', index + 3);
        index = end === -1 ? text.length : end + 2;
      } else {
        index++;
        while (index < text.length) {
          const inner = text.charCodeAt(index);
          if (inner === 0x5c) index++;
          else if (inner === 0x22 || inner === 0x0a) break;
          index++;
        }
      }
    }
  }
  return { over: false };
}

const NOTHING: Measure = { depth: 0, aliases: 0, fields: 0 };

interface Measure {
  depth: number;
  aliases: number;
  /** Fields with every fragment expanded where it is spread (what validation and planning walk). */
  fields: number;
}

function measure(document: DocumentNode, limits: DocumentLimits): DocumentRejection | undefined {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  if (fragments.size > limits.maxFragments) return exceeded('maxFragments', limits.maxFragments, fragments.size);
  const operations = document.definitions.length - fragments.size;
  if (operations > limits.maxOperations) return exceeded('maxOperations', limits.maxOperations, operations);

  let syntactic: DocumentRejection | undefined;
  const checkDirectives = (directives: readonly DirectiveNode[] | undefined) => {
    if (!syntactic && directives && directives.length > limits.maxDirectives)
      syntactic = exceeded('maxDirectives', limits.maxDirectives, directives.length);
  };
  const fragmentMeasures = new Map<string, Measure | 'visiting'>();

  const measureSet = (selectionSet: SelectionSetNode): Measure => {
    const { selections } = selectionSet;
    if (!syntactic && selections.length > limits.maxFieldsPerSelection)
      syntactic = exceeded('maxFieldsPerSelection', limits.maxFieldsPerSelection, selections.length);
    let depth = 0;
    let aliases = 0;
    let fields = 0;
    for (const selection of selections) {
      if (syntactic) break;
      checkDirectives(selection.directives);
      let inner: Measure;
      if (selection.kind === Kind.FIELD) {
        if (selection.alias) aliases++;
        inner = selection.selectionSet ? measureSet(selection.selectionSet) : NOTHING;
        inner = { depth: inner.depth + 1, aliases: inner.aliases, fields: inner.fields + 1 };
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        inner = measureSet(selection.selectionSet);
      } else {
        inner = measureFragment(selection.name.value);
      }
      depth = Math.max(depth, inner.depth);
      aliases += inner.aliases;
      fields += inner.fields;
    }
    return { depth, aliases, fields };
  };
  const measureFragment = (name: string): Measure => {
    const known = fragmentMeasures.get(name);
    if (known === 'visiting') return NOTHING;
    if (known) return known;
    const fragment = fragments.get(name);
    if (!fragment) return NOTHING;
    fragmentMeasures.set(name, 'visiting');
    checkDirectives(fragment.directives);
    const result = measureSet(fragment.selectionSet);
    fragmentMeasures.set(name, result);
    return result;
  };
  const rootFields = (selectionSet: SelectionSetNode, seen: Set<string>): number => {
    let count = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) count++;
      else if (selection.kind === Kind.INLINE_FRAGMENT) count += rootFields(selection.selectionSet, seen);
      else if (!seen.has(selection.name.value)) {
        const fragment = fragments.get(selection.name.value);
        seen.add(selection.name.value);
        if (fragment) count += rootFields(fragment.selectionSet, seen);
        seen.delete(selection.name.value);
      }
    }
    return count;
  };

  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    checkDirectives(definition.directives);
    const roots = rootFields(definition.selectionSet, new Set());
    if (roots > limits.maxRootFields) return exceeded('maxRootFields', limits.maxRootFields, roots);
    const { depth, aliases, fields } = measureSet(definition.selectionSet);
    if (syntactic) return syntactic;
    if (depth > limits.maxDepth) return exceeded('maxDepth', limits.maxDepth, depth);
    if (aliases > limits.maxAliases) return exceeded('maxAliases', limits.maxAliases, aliases);
    if (fields > limits.maxFields) return exceeded('maxFields', limits.maxFields, fields);
  }
  // Fragments no operation uses are still validated: measure them too.
  for (const name of fragments.keys()) {
    const { depth } = measureFragment(name);
    if (syntactic) return syntactic;
    if (depth > limits.maxDepth) return exceeded('maxDepth', limits.maxDepth, depth);
  }
  return undefined;
}
