import {
  Kind,
  parse,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type VariableDefinitionNode,
} from 'graphql';

/**
 * What the data source needs to know about one subgraph fetch document, computed once per distinct query
 * text (the planner emits the same text for the same plan node every time) and kept in a bounded map.
 */
export interface FetchShape {
  query: string;
  /**
   * The query text without its operation name. The planner names every fetch after the client operation and
   * the fetch's position (`Deep__inventory__5`), so two plan nodes that select exactly the same fields differ
   * only by name; batching, request memoisation and the entity cache group fetches by this key instead.
   */
  selectionKey: string;
  /** A short stand-in for `selectionKey`, the same for the same key for the life of the process. */
  selectionId: string;
  operation: 'query' | 'mutation' | 'subscription';
  /** Exactly `_entities(representations: $representations)` and nothing else at the root. */
  entities: boolean;
  /** The root fields (alias or name) the response data will have. */
  rootKeys: string[];
  /** All root selections are plain fields, so they can be aliased into a merged document. */
  mergeable: boolean;
  document: DocumentNode;
}

const SHAPES = new Map<string, FetchShape>();
const SELECTION_IDS = new Map<string, string>();
function selectionIdOf(selectionKey: string): string {
  let id = SELECTION_IDS.get(selectionKey);
  if (id === undefined) {
    // Bounded like the shapes; a key seen again after a reset gets a new id, which only costs a memo miss.
    if (SELECTION_IDS.size >= MAX_SHAPES * 2) SELECTION_IDS.clear();
    id = `s${nextSelectionId++}`;
    SELECTION_IDS.set(selectionKey, id);
  }
  return id;
}
let nextSelectionId = 0;
const MAX_SHAPES = 5_000;

export function shapeOf(query: string): FetchShape {
  let shape = SHAPES.get(query);
  if (shape) return shape;
  const document = parse(query, { noLocation: true });
  const operation = document.definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
  if (!operation) throw new Error('Subgraph fetch has no operation');
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION).length;
  const selections = operation.selectionSet.selections;
  const fields = selections.filter((selection): selection is FieldNode => selection.kind === Kind.FIELD);
  const first = fields[0];
  const entities =
    selections.length === 1 &&
    first !== undefined &&
    first.name.value === '_entities' &&
    !first.alias &&
    first.arguments?.length === 1 &&
    first.arguments[0]!.name.value === 'representations' &&
    first.arguments[0]!.value.kind === Kind.VARIABLE &&
    first.arguments[0]!.value.name.value === 'representations' &&
    (first.directives?.length ?? 0) === 0;
  const selectionKey = print(withoutOperationName(document));
  shape = {
    query,
    selectionKey,
    selectionId: selectionIdOf(selectionKey),
    operation: operation.operation,
    entities,
    rootKeys: fields.map((field) => field.alias?.value ?? field.name.value),
    mergeable: operations === 1 && fields.length === selections.length && (operation.directives?.length ?? 0) === 0,
    document,
  };
  if (SHAPES.size >= MAX_SHAPES) SHAPES.delete(SHAPES.keys().next().value!);
  SHAPES.set(query, shape);
  return shape;
}

function withoutOperationName(document: DocumentNode): DocumentNode {
  return {
    ...document,
    definitions: document.definitions.map((definition) =>
      definition.kind === Kind.OPERATION_DEFINITION ? { ...definition, name: undefined } : definition,
    ),
  };
}

/**
 * One document that runs several fetches to the same subgraph in one HTTP request. Fetch i's variables,
 * fragments and root fields get the prefix `_b<i>_`, so nothing collides; `split` takes the merged response
 * apart again. Built once per combination of query texts.
 */
export interface MergedDocument {
  query: string;
  prefixes: string[];
}

const MERGED = new Map<string, MergedDocument>();
const MAX_MERGED = 2_000;

export function mergeDocuments(shapes: FetchShape[]): MergedDocument {
  const cacheKey = shapes.map((shape) => shape.selectionKey).join('\u0000');
  let merged = MERGED.get(cacheKey);
  if (merged) return merged;
  const variableDefinitions: VariableDefinitionNode[] = [];
  const selections: SelectionNode[] = [];
  const fragments: FragmentDefinitionNode[] = [];
  const prefixes = shapes.map((_, index) => `_b${index}_`);
  shapes.forEach((shape, index) => {
    const prefix = prefixes[index]!;
    const renamed = visit(shape.document, {
      Variable: (node) => ({ ...node, name: { ...node.name, value: prefix + node.name.value } }),
      FragmentSpread: (node) => ({ ...node, name: { ...node.name, value: prefix + node.name.value } }),
      FragmentDefinition: (node) => ({ ...node, name: { ...node.name, value: prefix + node.name.value } }),
    });
    for (const definition of renamed.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.push(definition);
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      variableDefinitions.push(...(definition.variableDefinitions ?? []));
      for (const selection of definition.selectionSet.selections) {
        const field = selection as FieldNode;
        const key = field.alias?.value ?? field.name.value;
        selections.push({ ...field, alias: { kind: Kind.NAME, value: prefix + key } });
      }
    }
  });
  const operation: OperationDefinitionNode = {
    kind: Kind.OPERATION_DEFINITION,
    operation: shapes[0]!.operation as OperationDefinitionNode['operation'],
    name: { kind: Kind.NAME, value: 'BatchedFetches' },
    variableDefinitions,
    selectionSet: { kind: Kind.SELECTION_SET, selections },
    directives: [],
  };
  merged = { query: print({ kind: Kind.DOCUMENT, definitions: [operation, ...fragments] }), prefixes };
  if (MERGED.size >= MAX_MERGED) MERGED.delete(MERGED.keys().next().value!);
  MERGED.set(cacheKey, merged);
  return merged;
}
