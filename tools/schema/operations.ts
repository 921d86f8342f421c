import fs from 'node:fs';
import path from 'node:path';
import {
  GraphQLError,
  Kind,
  TypeInfo,
  getNamedType,
  isEnumType,
  isInputObjectType,
  parse,
  Source,
  typeFromAST,
  validate,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type OperationTypeNode,
} from 'graphql';
import { inputError, loaded, type Loaded } from './input';

/** One named client operation, with exactly the fragments it spreads (from any file), ready to validate or plan. */
export interface ClientOperation {
  readonly name: string;
  readonly file: string;
  readonly kind: OperationTypeNode;
  readonly document: DocumentNode;
}

/** A problem in the operation files themselves, found before any schema is involved. */
export interface OperationFileProblem {
  readonly file: string;
  readonly operation: string | null;
  readonly code:
    'GRAPHQL_PARSE_FAILED' | 'ANONYMOUS_OPERATION' | 'DUPLICATE_OPERATION_NAME' | 'DUPLICATE_FRAGMENT_NAME';
  readonly message: string;
}

export interface OperationSet {
  readonly operations: readonly ClientOperation[];
  readonly problems: readonly OperationFileProblem[];
}

const OPERATION_FILE = /\.(graphql|gql)$/;

/**
 * Reads every `.graphql`/`.gql` file under `dir`. Fragments are shared across files, as front-end code
 * generators allow, so an operation in one file may spread a fragment defined in another. A missing folder is
 * bad input only when the user named it; the default folder may simply not exist yet.
 */
export function loadOperations(
  dir: string,
  explicitlyRequested: boolean,
  what: string,
  displayFile: (file: string) => string = (file) => file,
): Loaded<OperationSet> {
  let files: string[];
  try {
    files = listOperationFiles(dir);
  } catch (error) {
    if (!explicitlyRequested && (error as NodeJS.ErrnoException).code === 'ENOENT') {
      return loaded({ operations: [], problems: [] });
    }
    return inputError(`${what}: cannot read ${dir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return loadOperationFiles(files, what, displayFile);
}

/** Reads and splits the given operation files; unreadable files are bad input, unparsable ones are problems. */
export function loadOperationFiles(
  files: readonly string[],
  what: string,
  displayFile: (file: string) => string = (file) => file,
): Loaded<OperationSet> {
  const problems: OperationFileProblem[] = [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  const definitions: { file: string; definition: OperationDefinitionNode }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      return inputError(`${what}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    let document: DocumentNode;
    try {
      document = parse(new Source(text, file));
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      const where = error.locations?.[0];
      const message = where ? `${error.message} at ${where.line}:${where.column}` : error.message;
      problems.push({ file, operation: null, code: 'GRAPHQL_PARSE_FAILED', message });
      continue;
    }
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        const name = definition.name.value;
        if (fragments.has(name)) {
          problems.push({
            file,
            operation: null,
            code: 'DUPLICATE_FRAGMENT_NAME',
            message: `Fragment ${name} is defined more than once`,
          });
        } else {
          fragments.set(name, definition);
        }
      } else if (definition.kind === Kind.OPERATION_DEFINITION) {
        definitions.push({ file, definition });
      }
    }
  }

  const operations: ClientOperation[] = [];
  const seen = new Map<string, string>();
  for (const { file, definition } of definitions) {
    const name = definition.name?.value;
    if (name === undefined) {
      problems.push({
        file,
        operation: null,
        code: 'ANONYMOUS_OPERATION',
        message: 'Every client operation needs a name, so checks and budgets can refer to it',
      });
      continue;
    }
    const firstFile = seen.get(name);
    if (firstFile !== undefined) {
      problems.push({
        file,
        operation: name,
        code: 'DUPLICATE_OPERATION_NAME',
        message: `Operation ${name} is also defined in ${displayFile(firstFile)}; operation names must be unique`,
      });
      continue;
    }
    seen.set(name, file);
    operations.push({
      name,
      file,
      kind: definition.operation,
      document: { kind: Kind.DOCUMENT, definitions: [definition, ...fragmentsSpreadBy(definition, fragments)] },
    });
  }
  return loaded({ operations, problems });
}

/** Every `.graphql`/`.gql` file under `dir`, sorted; throws like `fs.readdirSync` when `dir` is unreadable. */
export function listOperationFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...listOperationFiles(full));
    else if (OPERATION_FILE.test(entry.name)) files.push(full);
  }
  return files.sort();
}

/** The fragments an operation needs, transitively; unknown names are left for validation to report. */
function fragmentsSpreadBy(
  operation: OperationDefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): FragmentDefinitionNode[] {
  const needed = new Map<string, FragmentDefinitionNode>();
  const pending: DocumentNode['definitions'][number][] = [operation];
  while (pending.length > 0) {
    const next = pending.pop();
    if (!next) break;
    visit(next, {
      FragmentSpread(spread) {
        const name = spread.name.value;
        const fragment = fragments.get(name);
        if (fragment && !needed.has(name)) {
          needed.set(name, fragment);
          pending.push(fragment);
        }
      },
    });
  }
  return [...needed.values()];
}

export function validateOperation(schema: GraphQLSchema, operation: ClientOperation): readonly GraphQLError[] {
  return validate(schema, operation.document);
}

/**
 * The schema elements an operation depends on, as usage keys: type names, `Type.field`, `Type.field(arg:)`,
 * `Input.field`, `Enum.VALUE` and `@directive`. Computed against the base schema (where the operation was
 * valid), so a change's `affects` keys can be matched against it.
 *
 * Variables get special treatment: a variable of an input type can carry any of its fields and enum values,
 * so all of them count as used, recursively.
 */
export function collectUsage(schema: GraphQLSchema, operation: ClientOperation): Set<string> {
  const usage = new Set<string>();
  const useType = (type: GraphQLNamedType | undefined | null) => {
    if (type) usage.add(type.name);
  };
  const typeInfo = new TypeInfo(schema);
  visit(
    operation.document,
    visitWithTypeInfo(typeInfo, {
      OperationDefinition() {
        useType(typeInfo.getType() as GraphQLNamedType | null);
      },
      Field(node) {
        const parent = typeInfo.getParentType();
        if (!parent) return;
        usage.add(parent.name);
        usage.add(`${parent.name}.${node.name.value}`);
        const type = typeInfo.getType();
        if (type) useType(getNamedType(type));
      },
      Argument(node) {
        const directive = typeInfo.getDirective();
        if (directive) {
          usage.add(`@${directive.name}(${node.name.value}:)`);
          return;
        }
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        if (parent && field) usage.add(`${parent.name}.${field.name}(${node.name.value}:)`);
        const type = typeInfo.getInputType();
        if (type) useType(getNamedType(type));
      },
      ObjectField(node) {
        const parent = typeInfo.getParentInputType();
        if (!parent) return;
        const named = getNamedType(parent);
        usage.add(named.name);
        usage.add(`${named.name}.${node.name.value}`);
      },
      EnumValue(node) {
        const type = typeInfo.getInputType();
        if (type) usage.add(`${getNamedType(type).name}.${node.value}`);
      },
      Directive(node) {
        usage.add(`@${node.name.value}`);
      },
      InlineFragment(node) {
        if (node.typeCondition) usage.add(node.typeCondition.name.value);
      },
      FragmentDefinition(node) {
        usage.add(node.typeCondition.name.value);
      },
      VariableDefinition(node) {
        const type = typeFromAST(schema, node.type);
        if (type) addInputClosure(getNamedType(type), usage);
      },
    }),
  );
  return usage;
}

/** Marks an input type and everything reachable from it as used; `expanded` stops recursive input types. */
function addInputClosure(type: GraphQLNamedType, usage: Set<string>, expanded = new Set<string>()): void {
  usage.add(type.name);
  if (expanded.has(type.name)) return;
  expanded.add(type.name);
  if (isInputObjectType(type)) {
    for (const field of Object.values(type.getFields())) {
      usage.add(`${type.name}.${field.name}`);
      addInputClosure(getNamedType(field.type), usage, expanded);
    }
  } else if (isEnumType(type)) {
    for (const value of type.getValues()) usage.add(`${type.name}.${value.name}`);
  }
}
